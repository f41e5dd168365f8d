#!/bin/sh
# API benchmark (issue 2).  In one run, against the same lighttpd
# configuration and pool size, measures with wrk:
#   (a) a hello-world libfcgi responder: the floor
#   (b) GET one operation
#   (c) GET a filtered page of 20 jobs out of 10,000
#   (d) PUT updating a job
#   (e) a bare C loop committing a job-sized row with the same pragmas
# and the responders' resident memory over the run.
#
# usage: tests/bench/bench_api.sh [BUILDDIR]   (default: the source tree)
# env:   DURATION (s per case, default 5), REPEAT (rounds, default 3),
#        CONNS (default 16), POOL (default 4), THREADS (per responder,
#        default 2), MEMORY_REQUESTS (for the memory trail, default 100000)
set -eu
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$srcdir}" && pwd)
duration=${DURATION:-5}
repeat=${REPEAT:-3}
conns=${CONNS:-16}
pool=${POOL:-4}
threads=${THREADS:-3}
memory_requests=${MEMORY_REQUESTS:-100000}
lighttpd=$(command -v lighttpd || echo /usr/sbin/lighttpd)
work=$(mktemp -d /tmp/ledgerops-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base=http://127.0.0.1:$port/api/v1/operation
lpid=

stop_server() {
	[ -n "$lpid" ] || return 0
	kill "$lpid" 2>/dev/null || true
	wait "$lpid" 2>/dev/null || true
	lpid=
	pkill -f "$work/" 2>/dev/null || true
}
trap 'stop_server; rm -rf "$work"' EXIT INT TERM

cc -O2 -o "$work/hello_fcgi" "$srcdir/tests/bench/hello_fcgi.c" -lfcgi
cc -O2 -o "$work/commit_floor" "$srcdir/tests/bench/commit_floor.c" \
    $(pkg-config --cflags --libs sqlite3)

# Starts lighttpd from the project's template with BINDIR=$1.
start_server() {
	mkdir -p "$work/www"
	sed -e "s|@PORT@|$port|" -e "s|@RUNDIR@|$work|" -e "s|@POOL@|$pool|" \
	    -e "s|@BINDIR@/ledgerops-fcgi|$1|" -e "s|@CONF@|$work/ledgerops.conf|" \
	    -e "s|@ERRORS@|$srcdir/etc/errors|" \
	    "$srcdir/etc/lighttpd.conf.in" > "$work/lighttpd.conf"
	"$lighttpd" -D -f "$work/lighttpd.conf" 2>>"$work/lighttpd.log" &
	lpid=$!
	for _ in $(seq 200); do
		curl -s -o /dev/null "http://127.0.0.1:$port/" && return 0
		sleep 0.05
	done
	echo "bench: lighttpd did not start" >&2
	exit 1
}

# Prints the requests per second wrk measured.
rps() {
	wrk -t2 -c"$conns" -d"${duration}s" -H 'request-id: bench' \
	    -H 'source: bench' "$@" | tee -a "$work/wrk.log" |
	    awk '/^Requests\/sec/ { print $2 }'
}

# Resident memory of the pool, in KiB: "max sum".
pool_rss() {
	max=0 sum=0
	for p in $(pgrep -P "$lpid" || true); do
		r=$(awk '/^VmRSS/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
		sum=$((sum + r))
		[ "$r" -gt "$max" ] && max=$r
	done
	echo "$max $sum"
}

# Ten thousand jobs written straight into the schema, so that seeding
# takes a second rather than a minute of PUTs.
seed() {
	"$builddir/ledgerops-fcgi" -c "$work/ledgerops.conf" -i 2>/dev/null
	sqlite3 -cmd ".timeout 5000" "$work/ledgerops.db" <<'SQL'
BEGIN;
INSERT INTO operation (type, definition, info, backoff, created_at, updated_at)
VALUES ('REPORT', 'bench',
 '{"@type":"cac_ledger_schema_info_ledger_operation_info","type":"REPORT","definition":"bench"}',
 '{"initial_delay_in_millis":1000,"minimum_delay_in_millis":1000,"maximum_delay_in_millis":300000,"delay_increase":2,"delay_decrease":2}',
 1764000000000, 1764000000000);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO job (operation_id, name, revision, status, info, own_backoff,
                 current_delay_ms, due_at, created_at, updated_at)
SELECT 1, printf('job-%05d', i), 1, 'PAUSED',
 json_object('@type', 'cac_ledger_schema_info_ledger_job_info',
             'name', printf('job-%05d', i),
             'roles', json_array(CASE WHEN i % 2 THEN 'reporting' ELSE 'audit' END),
             'parameters', json_object('source', 'sales',
                 'region', CASE i % 5 WHEN 0 THEN 'eu' WHEN 1 THEN 'us'
                           WHEN 2 THEN 'apac' WHEN 3 THEN 'latam' ELSE 'mea' END,
                 'customer', printf('c-%04d', i % 500)),
             'backoff', json('{"initial_delay_in_millis":1000,"minimum_delay_in_millis":1000,"maximum_delay_in_millis":300000,"delay_increase":2,"delay_decrease":2}')),
 0, 1000, NULL, 1764000000000 + i, 1764000000000 + i
FROM n;
COMMIT;
SQL
}

sed -e "s|@DBPATH@|$work/ledgerops.db|" -e "s|@HANDLERS@|$work/handlers|" \
    -e "s|^\(threads *= *\)[0-9]*|\1$threads|" \
    "$srcdir/etc/ledgerops.conf.in" > "$work/ledgerops.conf"

echo "bench: $(nproc) cores, pool $pool x $threads threads, $conns connections, ${duration}s per case, $repeat rounds"

seed
curl_put_seed() {
	curl -s -o /dev/null -X PUT -H 'request-id: seed' -H 'source: bench' \
	    -H 'Content-Type: application/json' \
	    -d '{"@type":"cac_ledger_schema_info_ledger_job_info","name":"bench-put","roles":["reporting"]}' \
	    "$base/REPORT/bench"
}
# The filter selects one customer's jobs (20 of the 10,000) that are
# paused and readable by the audit role: a page of 20 out of 10,000.
filter='info.parameters.customer==c-0042;info.roles==audit;status==PAUSED'
filter_url="$base/REPORT/bench/?filter=$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1]))' "$filter")&page%5Bsize%5D=20"

# Rounds interleave the cases, so that a burst of load from elsewhere on
# the machine touches every case alike; the medians are reported.
: > "$work/results"
for round in $(seq "$repeat"); do
	start_server "$work/hello_fcgi"
	echo "a $(rps "http://127.0.0.1:$port/api/v1/operation/REPORT/bench")" >> "$work/results"
	stop_server

	start_server "$builddir/ledgerops-fcgi"
	echo "b $(rps "$base/REPORT/bench")" >> "$work/results"
	echo "c $(rps "$filter_url")" >> "$work/results"
	curl_put_seed
	echo "d $(BENCH_JOB_PATH=/api/v1/operation/REPORT/bench rps -s "$srcdir/tests/bench/put_job.lua" "$base/REPORT/bench")" >> "$work/results"
	# The log must be started over after checkpoints, not grow.
	echo "w $(( $(stat -c %s "$work/ledgerops.db-wal") / 1024 ))" >> "$work/results"
	stop_server

	row=$(sqlite3 -cmd ".timeout 5000" "$work/ledgerops.db" "SELECT length(info) FROM job WHERE name = 'bench-put'")
	echo "e $("$work/commit_floor" "$work/floor.db" "$duration" "$row")" >> "$work/results"
done

# Memory: one pool serving at least 100,000 requests of the three kinds,
# its resident size sampled after each burst.
start_server "$builddir/ledgerops-fcgi"
curl_put_seed
: > "$work/wrk.log"
rss_trail=$(pool_rss)
while [ "$(awk '/requests in/ { s += $1 } END { print s + 0 }' "$work/wrk.log")" -lt "$memory_requests" ]; do
	rps "$base/REPORT/bench" > /dev/null
	rps "$filter_url" > /dev/null
	BENCH_JOB_PATH=/api/v1/operation/REPORT/bench rps -s "$srcdir/tests/bench/put_job.lua" "$base/REPORT/bench" > /dev/null
	rss_trail="$rss_trail -> $(pool_rss)"
done
total=$(awk '/requests in/ { s += $1 } END { print s }' "$work/wrk.log")
stop_server

median() { awk -v k="$1" '$1 == k { print $2 }' "$work/results" | sort -n |
	awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
all() { awk -v k="$1" '$1 == k { printf "%s%.0f", sep, $2; sep = " " }' "$work/results"; }
a=$(median a) b=$(median b) c=$(median c) d=$(median d) e=$(median e)
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.2f", x / y }'; }
cat <<REPORT

case (median of $repeat rounds)           req/s     ratio   target   rounds
(a) hello-world libfcgi responder   $(printf %9.0f "$a")                       $(all a)
(b) GET one operation               $(printf %9.0f "$b")   $(ratio "$b" "$a") x a   >= 0.70   $(all b)
(c) GET filtered page of 20/10,000  $(printf %9.0f "$c")   $(ratio "$c" "$a") x a   >= 0.40   $(all c)
(d) PUT updating a job              $(printf %9.0f "$d")   $(ratio "$d" "$e") x e   >= 0.70   $(all d)
(e) bare SQLite commit loop         $(printf %9.0f "$e")                       $(all e)

WAL file after each round of PUTs (KiB): $(all w)

responder RSS over $total requests (KiB, largest responder / whole pool):
  $rss_trail
REPORT

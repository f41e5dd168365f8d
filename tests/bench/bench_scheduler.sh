#!/bin/sh
# Scheduler benchmark (issue 3, item 13).  In one run, with the built
# ledgerops-scheduler on a database seeded directly with sqlite3, and
# /bin/true installed as the external handler PUBLISH/true:
#   (a) throughput: 200 jobs at minimum delay 0 (each job is due again
#       as soon as its execution stops); executions whose stopped_at
#       falls in a fixed window after a warm-up, per second
#   (b) lateness: 1,000 jobs due once each at times spread uniformly
#       over the next SPREAD seconds (a one-hour backoff keeps each to
#       one run); started_at - due_at, p50 / p99 / max
#   (c) the fork+exec floor: tests/bench/spawn_floor.c, one process
#       keeping MAX_RUNNING children of /bin/true in flight (the
#       scheduler's own shape); also shown with one child at a time
# (a) and (b) are run for each poll interval in POLL_MS.
#
# usage: tests/bench/bench_scheduler.sh [BUILDDIR]  (default: the source tree)
# env:   DURATION     (a) window, s (default 10)
#        JOBS         (a) jobs (default 200)
#        LATE_JOBS    (b) jobs (default 1000)
#        SPREAD       (b) due times spread over, s (default 10)
#        MAX_RUNNING  [scheduler] max_running (default 32)
#        POLL_MS      poll_interval_ms values, space-separated (default 100)
#        SYNCHRONOUS  [database] synchronous (default FULL, the default)
#        FLOOR_SECS   (c) seconds per floor measurement (default 5)
# Binds nothing; everything lives in a temporary directory under /tmp.
set -eu
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$srcdir}" && pwd)
duration=${DURATION:-10}
jobs=${JOBS:-200}
late_jobs=${LATE_JOBS:-1000}
spread=${SPREAD:-10}
max_running=${MAX_RUNNING:-32}
polls=${POLL_MS:-100}
synchronous=${SYNCHRONOUS:-FULL}
floor_secs=${FLOOR_SECS:-5}
warmup_ms=1000
work=$(mktemp -d /tmp/ledgerops-bench-sched.XXXXXX)
spid=
napid=

# sleep, in a way a signal interrupts at once (the traps run).
nap() {
	sleep "$1" &
	napid=$!
	wait "$napid"
	napid=
}

stop_sched() {
	[ -n "$spid" ] || return 0
	kill -TERM "$spid" 2>/dev/null || true
	wait "$spid" 2>/dev/null || true
	spid=
}
trap '[ -z "$napid" ] || kill "$napid" 2>/dev/null; stop_sched; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

for b in ledgerops-scheduler ledgerops-fcgi; do
	if [ ! -x "$builddir/$b" ]; then
		echo "bench: $builddir/$b is not built" >&2
		exit 1
	fi
done
cc -O2 -o "$work/spawn_floor" "$srcdir/tests/bench/spawn_floor.c"

# The handler: <handlers_dir>/publish/true runs /bin/true (a symlink;
# the scheduler follows it when it checks that the handler is a program).
mkdir -p "$work/handlers/publish"
ln -s /bin/true "$work/handlers/publish/true"

now_ms() { date +%s%3N; }

# Writes $work/$1.conf for database $work/$1.db with poll interval $2.
write_conf() {
	sed -e "s|@DBPATH@|$work/$1.db|" -e "s|@HANDLERS@|$work/handlers|" \
	    -e "s|^\(poll_interval_ms *= *\)[0-9]*|\1$2|" \
	    -e "s|^\(max_running *= *\)[0-9]*|\1$max_running|" \
	    -e "s|^\(synchronous *= *\)[A-Z]*|\1$synchronous|" \
	    "$srcdir/etc/ledgerops.conf.in" > "$work/$1.conf"
	"$builddir/ledgerops-fcgi" -c "$work/$1.conf" -i 2>/dev/null
}

sql() { sqlite3 -cmd ".timeout 10000" "$work/$1.db"; }

# Seeds database $1 with operation PUBLISH/true, backoff $2 (JSON) and
# $3 EXECUTING jobs created at $4 (UTC ms), each due at the SQL
# expression $5 (i is the job's number) with current delay $6.
seed() {
	sql "$1" <<SQL
BEGIN;
INSERT INTO operation (type, definition, info, backoff, created_at, updated_at)
VALUES ('PUBLISH', 'true',
 '{"@type":"cac_ledger_schema_info_ledger_operation_info","type":"PUBLISH","definition":"true","backoff":$2}',
 '$2', $4, $4);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $3)
INSERT INTO job (operation_id, name, revision, status, info, own_backoff,
                 current_delay_ms, due_at, created_at, updated_at)
SELECT 1, printf('job-%05d', i), 1, 'EXECUTING',
 json_object('@type', 'cac_ledger_schema_info_ledger_job_info',
             'name', printf('job-%05d', i), 'roles', json_array('bench'),
             'backoff', json('$2')),
 0, $6, $5, $4, $4
FROM n;
COMMIT;
SQL
}

# Starts the scheduler on $work/$1.conf.
start_sched() {
	"$builddir/ledgerops-scheduler" -c "$work/$1.conf" \
	    >>"$work/$1.log" 2>&1 &
	spid=$!
}

# CPU seconds (user+system) the scheduler has used so far.
sched_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / hz }' \
	    "/proc/$spid/stat"
}

# The cases run in this shell, not in $(...), so that the traps above
# see the scheduler they started; each writes its numbers to $work/out.

# (a) Writes "executions/s cpu_s other_statuses" for poll interval $1.
bench_throughput() {
	db=tput-$1
	write_conf "$db" "$1"
	t=$(now_ms)
	seed "$db" '{"initial_delay_in_millis":0,"minimum_delay_in_millis":0,"maximum_delay_in_millis":60000,"delay_increase":2,"delay_decrease":2}' \
	    "$jobs" "$t" "$t" 0
	start_sched "$db"
	from=$(($(now_ms) + warmup_ms))
	to=$((from + duration * 1000))
	nap "$(awk -v ms="$warmup_ms" 'BEGIN { print ms / 1000 }')"
	cpu0=$(sched_cpu)
	nap "$duration"
	cpu1=$(sched_cpu)
	# Executions still STARTED at the end of the window stop after it.
	nap 0.5
	stop_sched
	sql "$db" >"$work/out" <<SQL
SELECT printf('%.1f %.2f %d',
  count(*) FILTER (WHERE status = 'SUCCEEDED') * 1000.0 / ($to - $from),
  $cpu1 - $cpu0,
  count(*) FILTER (WHERE status <> 'SUCCEEDED'))
FROM execution WHERE stopped_at >= $from AND stopped_at < $to;
SQL
}

# (b) Writes "p50 p99 max executed" (ms) for poll interval $1.
bench_lateness() {
	db=late-$1
	write_conf "$db" "$1"
	t=$(now_ms)
	# Due from 1 s from now (the scheduler's start-up) over SPREAD s.
	seed "$db" '{"initial_delay_in_millis":3600000,"minimum_delay_in_millis":3600000,"maximum_delay_in_millis":3600000,"delay_increase":1,"delay_decrease":1}' \
	    "$late_jobs" "$t" "$t + 1000 + abs(random()) % ($spread * 1000)" 3600000
	start_sched "$db"
	deadline=$(($(now_ms) + spread * 1000 + 10000))
	while [ "$(echo "SELECT count(*) FROM execution WHERE stopped_at IS NOT NULL;" | sql "$db")" -lt "$late_jobs" ] &&
	    [ "$(now_ms)" -lt "$deadline" ]; do
		nap 0.5
	done
	stop_sched
	sql "$db" >"$work/out" <<'SQL'
CREATE TEMP TABLE l AS
  SELECT started_at - due_at AS ms FROM execution ORDER BY 1;
SELECT printf('%d %d %d %d',
  (SELECT ms FROM l ORDER BY ms LIMIT 1
    OFFSET (SELECT (count(*) * 50 + 99) / 100 - 1 FROM l)),
  (SELECT ms FROM l ORDER BY ms LIMIT 1
    OFFSET (SELECT (count(*) * 99 + 99) / 100 - 1 FROM l)),
  (SELECT max(ms) FROM l),
  (SELECT count(*) FROM l));
SQL
}

echo "bench: $(nproc) cores, max_running $max_running, poll_interval_ms $polls," \
    "synchronous $synchronous; (a) $jobs jobs, ${duration}s window;" \
    "(b) $late_jobs jobs over ${spread}s"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
results=
for p in $polls; do
	bench_throughput "$p"
	read -r a acpu aother <"$work/out"
	bench_lateness "$p"
	read -r p50 p99 max n <"$work/out"
	results="$results$p $a $acpu $aother $p50 $p99 $max $n
"
done

c=$("$work/spawn_floor" /bin/true "$floor_secs" "$max_running")
c1=$("$work/spawn_floor" /bin/true "$floor_secs" 1)

ok() { awk -v x="$1" -v y="$2" -v op="$3" 'BEGIN {
	print ((op == "ge" ? x >= y : x <= y) ? "ok" : "MISSED") }'; }

echo
printf '%-48s %10s %8s  %s\n' "case" "value" "target" ""
echo "$results" | while read -r p a acpu aother p50 p99 max n; do
	[ -n "$p" ] || continue
	printf '%-48s %10.1f %8s  %s\n' \
	    "(a) executions/s, $jobs jobs, poll ${p}ms" "$a" ">= 300" "$(ok "$a" 300 ge)"
	printf '%-48s %10s\n' "    scheduler CPU s over the ${duration}s window" "$acpu"
	printf '%-48s %10.2f\n' "    (a) / (c)" "$(awk -v x="$a" -v y="$c" 'BEGIN { print x / y }')"
	[ "$aother" -eq 0 ] || echo "    WARNING: $aother executions did not succeed"
	printf '%-48s %10d %8s  %s\n' \
	    "(b) lateness p50 ms, poll ${p}ms" "$p50" "<= 5" "$(ok "$p50" 5 le)"
	printf '%-48s %10d %8s  %s\n' \
	    "(b) lateness p99 ms, poll ${p}ms" "$p99" "<= 50" "$(ok "$p99" 50 le)"
	printf '%-48s %10d\n' "    lateness max ms" "$max"
	[ "$n" -eq "$late_jobs" ] || echo "    WARNING: $n of $late_jobs jobs ran"
done
printf '%-48s %10.1f\n' "(c) fork+exec floor/s, $max_running in flight" "$c"
printf '%-48s %10.1f\n' "    fork+exec floor/s, 1 at a time" "$c1"
# Other work on the machine skews every number: show the load.
echo "load average before / after: $load0 / $(cut -d' ' -f1-3 /proc/loadavg)"

#!/bin/sh
# "make run": lighttpd in the foreground with a pool of responders (and
# the scheduler, when built) on a database under RUNDIR.  Ctrl-C stops
# everything it started.
set -eu
srcdir=$1 builddir=$2 rundir=$3 port=$4 pool=$5 conf=$6 lighttpd=${7:-lighttpd}

mkdir -p "$rundir/www"
# A lighttpd still running on RUNDIR is another make run: leave it be.
if [ -s "$rundir/lighttpd.pid" ] &&
    kill -0 "$(cat "$rundir/lighttpd.pid")" 2>/dev/null; then
	echo "run.sh: lighttpd $(cat "$rundir/lighttpd.pid") already serves" \
	    "$rundir; stop it or use another RUNDIR" >&2
	exit 1
fi
if [ -z "$conf" ]; then
	conf=$rundir/ledgerops.conf
	sed -e "s|@DBPATH@|$rundir/ledgerops.db|" \
	    -e "s|@HANDLERS@|$srcdir/etc/handlers|" \
	    "$srcdir/etc/ledgerops.conf.in" > "$conf"
fi
case $conf in /*) ;; *) conf=$(pwd)/$conf ;; esac

# The demo ledger of the sample jobs: [source.sales] and the target
# directories of the generated configuration.
if [ ! -e "$rundir/sales.db" ] && command -v sqlite3 >/dev/null 2>&1; then
	rm -f "$rundir/sales.db.tmp"
	cat "$srcdir"/sql/demo/*.sql | sqlite3 "$rundir/sales.db.tmp" &&
	    mv "$rundir/sales.db.tmp" "$rundir/sales.db"
fi
mkdir -p "$rundir/reports" "$rundir/backups"
sed -e "s|@PORT@|$port|" -e "s|@RUNDIR@|$rundir|" -e "s|@POOL@|$pool|" \
    -e "s|@BINDIR@|$builddir|" -e "s|@CONF@|$conf|" \
    -e "s|@ERRORS@|$srcdir/etc/errors|" \
    "$srcdir/etc/lighttpd.conf.in" > "$rundir/lighttpd.conf"

# Create or migrate the database now, so that a bad configuration is
# reported here rather than in the first request.
"$builddir/ledgerops-fcgi" -c "$conf" -i

pids=
cleanup() {
	trap - INT TERM EXIT
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup INT TERM EXIT

if [ -x "$builddir/ledgerops-scheduler" ]; then
	"$builddir/ledgerops-scheduler" -c "$conf" &
	pids="$pids $!"
fi
# Responders left by a lighttpd that was killed (kill -9) still listen
# here, and a new lighttpd would send them its requests.  Removing their
# socket files ends them (ledgerops-fcgi(8)), and lighttpd makes new ones.
rm -f "$rundir"/fcgi.sock-*
"$lighttpd" -D -f "$rundir/lighttpd.conf" &
pids="$pids $!"
echo "ledgerops: http://127.0.0.1:$port/api/v1/operation/ (Ctrl-C stops)"
wait

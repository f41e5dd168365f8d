#!/bin/sh
# The HTTP integration suite: a real lighttpd with a pool of built
# ledgerops-fcgi responders on a free 127.0.0.1 port and a fresh database.
# "make check" runs it with top_srcdir and top_builddir set; by hand, run
# it from the build directory (the repository root for in-tree builds):
#   tests/integration.sh [name-pattern...]
here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(dirname "$here")}"
if [ -z "${top_builddir:-}" ]; then
	if [ -x "$PWD/ledgerops-fcgi" ]; then
		top_builddir=$PWD
	else
		top_builddir=$top_srcdir
	fi
fi
export top_srcdir top_builddir

# Without lighttpd the suite cannot run: tell automake it was skipped.
if [ -z "${LIGHTTPD:-}" ] && ! command -v lighttpd >/dev/null 2>&1 &&
    [ ! -x /usr/sbin/lighttpd ]; then
	echo "integration.sh: lighttpd not found; skipping" >&2
	exit 77
fi
exec "${PYTHON3:-python3}" "$top_srcdir/tests/integration/run.py" "$@"

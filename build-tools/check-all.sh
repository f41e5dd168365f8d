#!/bin/sh
# Builds and runs every test twice: a normal build and one with
# AddressSanitizer and UndefinedBehaviorSanitizer, each in its own
# directory (build-plain/, build-sanitizers/).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] || ./autogen.sh

# Automake builds in a separate directory only from an unconfigured
# source tree; "./configure && make run" configures it in place, so undo
# that first (it removes the in-tree binaries, not run/).
if [ -f config.status ]; then
	echo "check-all: the source tree is configured in place; make distclean"
	make -s distclean >/dev/null
fi
jobs=$(nproc 2>/dev/null || echo 2)
for variant in plain sanitizers; do
	dir=$top/build-$variant
	rm -rf "$dir"
	mkdir -p "$dir"
	flags=
	[ "$variant" = sanitizers ] && flags=--enable-sanitizers
	echo "=== $variant build ==="
	(cd "$dir" && "$top/configure" -q $flags && make -s -j"$jobs" &&
	    make -s -j"$jobs" check) || {
		cat "$dir"/tests/*.log 2>/dev/null | tail -n 200
		exit 1
	}
	# The counts, each on a line of its own: unit tests (cmocka) and the
	# integration suite.
	awk '/\[  PASSED  \]/ { p += $4 } /\[  FAILED  \] [0-9]+ test/ { f += $4 }
	    END { printf "unit: %d passed, %d failed\n", p, f }' \
	    "$dir"/tests/test_*.log
	grep -h -E '^[0-9]+ passed, [0-9]+ failed' "$dir/tests/integration.sh.log" |
	    tail -n 1 | sed 's/^/integration: /'
done
echo "all tests passed in both builds"

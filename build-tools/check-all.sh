#!/bin/sh
# Builds and runs every test twice: a normal build and one with
# AddressSanitizer and UndefinedBehaviorSanitizer, each in its own
# directory so they do not disturb an existing build in the source tree.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] || ./autogen.sh
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
	cat "$dir/test-suite.log" | head -n 20
done
echo "all tests passed in both builds"

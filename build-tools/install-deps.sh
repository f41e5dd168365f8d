#!/bin/sh
# Installs, as root on Debian 12, what ledgerops needs to build, run and
# test.  Safe to run again.
set -e
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: run as root (or install the packages it lists)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
	build-essential autoconf automake libtool pkg-config \
	libfcgi-dev libjson-c-dev libsqlite3-dev libinih-dev libcmocka-dev \
	lighttpd python3 sqlite3 curl ca-certificates wrk procps

#!/bin/sh
# Writes a C file that holds each migration in sql/ as a NUL-terminated
# byte array, in the order given: migration N (from 1) brings the schema
# to user_version N.  Arrays rather than string literals, because ISO C
# compilers need not accept string literals over 4095 bytes.
set -e
printf '/* Generated from sql/ by build-tools/embed-sql.sh. */\n'
printf '#include "db.h"\n'
n=0
for f in "$@"; do
	n=$((n + 1))
	printf '\n/* %s */\nstatic const char migration_%d[] = {\n' "$(basename "$f")" "$n"
	od -An -v -w12 -tx1 "$f" | sed -e 's/ *\([0-9a-f][0-9a-f]\)/0x\1, /g' \
	    -e 's/^/\t/' -e 's/, $/,/'
	printf '\t0x00\n};\n'
done
printf '\nconst char *const db_migrations[] = {\n'
i=0
while [ "$i" -lt "$n" ]; do
	i=$((i + 1))
	printf '\tmigration_%d,\n' "$i"
done
printf '};\n\nconst int db_migration_count =\n'
printf '    (int)(sizeof db_migrations / sizeof db_migrations[0]);\n'

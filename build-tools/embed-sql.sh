#!/bin/sh
# Writes a C file that holds each migration in sql/ as a string, in the
# order given: migration N (from 1) brings the schema to user_version N.
set -e
printf '/* Generated from sql/ by build-tools/embed-sql.sh. */\n'
printf '#include "db.h"\n\nconst char *const db_migrations[] = {\n'
for f in "$@"; do
	printf '\t/* %s */\n' "$(basename "$f")"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$f"
	printf '\t,\n'
done
printf '};\n\nconst int db_migration_count =\n'
printf '    (int)(sizeof db_migrations / sizeof db_migrations[0]);\n'

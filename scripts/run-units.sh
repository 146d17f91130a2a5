#!/bin/sh
# run-units.sh - runs each cmocka unit test binary (optionally under
# valgrind) and prints one closing summary line.
set -u
vg=""
if [ "${1:-}" = "--valgrind" ]; then
	vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
	shift
fi
pass=0; fail=0
for t in "$@"; do
	if (cd "$(dirname "$0")/.." && $vg "$t"); then
		pass=$((pass + 1))
	else
		echo "FAILED: $t"
		fail=$((fail + 1))
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

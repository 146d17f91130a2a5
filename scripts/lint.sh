#!/bin/sh
# lint.sh - the project's style gate, run by `make test`:
#  - banned C functions (unbounded copies and formats, gets, rand);
#  - every C file opens with a comment saying what it is for.
# An exception is written on the same line as `lint:allow` with a reason.
set -u
cd "$(dirname "$0")/.." || exit 2
status=0
files=$(find src tests bench -name '*.c' -o -name '*.h' 2>/dev/null | sort)
banned='(^|[^_a-z])(strcpy|strcat|sprintf|vsprintf|gets|rand|srand|strtok|atoi|atol)[[:space:]]*\('
for f in $files; do
	hits=$(grep -nE "$banned" "$f" | grep -v 'lint:allow' || true)
	if [ -n "$hits" ]; then
		echo "$f: banned function (use tk_strlcpy, snprintf, strtol, RAND_bytes):"
		echo "$hits" | sed 's/^/  /'
		status=1
	fi
	if ! head -n 3 "$f" | grep -q '/\*'; then
		echo "$f: must open with a comment saying what the file is for"
		status=1
	fi
done
[ $status -eq 0 ] && echo "lint: $(echo "$files" | wc -l) files clean"
exit $status

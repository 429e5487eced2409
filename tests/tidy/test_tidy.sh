#!/usr/bin/env bash
# test_tidy.sh: tidy bites. A tiny fake tree passes; each rule's planted violation makes
# tidy exit 1 with a line naming the file, the line and the rule.
# Usage: test_tidy.sh [TIDY_PY [CLANG_FORMAT_FILE]]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tidy=${1:-$here/../../tools/tidy/tidy.py}
style=${2:-$here/../../.clang-format}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/concord-tidy-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failures=0

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; failures=$((failures + 1)); }

# A function of N lines, signature to closing brace, in Linux style.
function_of() { # name lines
	echo "int $1(int x)"
	echo "{"
	for ((i = 0; i < $2 - 4; i++)); do echo "	x += $i;"; done
	echo "	return x;"
	echo "}"
}

# The clean fake tree: a pure core, a module, a long function on the allowlist.
make_clean() { # dir
	local d=$1
	mkdir -p "$d/src/raft" "$d/src/kv" "$d/include/concord" "$d/tools/tidy" "$d/build"
	cp "$style" "$d/.clang-format"
	cat >"$d/include/concord/raft.h" <<-'EOF'
	/* raft.h: the fake core's API. */
	#ifndef CONCORD_RAFT_H
	#define CONCORD_RAFT_H

	#include <stdint.h>

	int raft_step(int x);

	#endif
	EOF
	cat >"$d/src/raft/impl.h" <<-'EOF'
	/* impl.h: the fake core's internals. */
	#ifndef CONCORD_RAFT_IMPL_H
	#define CONCORD_RAFT_IMPL_H

	#include <stdbool.h>
	#include <stddef.h>

	#include "concord/raft.h"

	#endif
	EOF
	{
		echo "/* step.c: the fake core's step. TODO(#11): a real one. */"
		echo "#include <stdlib.h>"
		echo "#include <string.h>"
		echo ""
		echo "#include \"raft/impl.h\""
		echo ""
		function_of raft_step 10
	} >"$d/src/raft/step.c"
	{
		echo "/* kv.c: a module with one long function, on the allowlist. */"
		echo "#include <stdio.h>"
		echo ""
		function_of kv_short 5
		echo ""
		function_of kv_long 75
	} >"$d/src/kv/kv.c"
	echo "src/kv/kv.c:kv_long" >"$d/tools/tidy/long_functions.txt"
	# Never looked at: build directories.
	printf '/* junk */\nint   junk( void ){return 0;}\n' >"$d/build/junk.c"
	(cd "$d" && git init -q . && printf '/build*/\n' >.gitignore && git add -A)
}

expect_clean() { # what dir [args...]
	local what=$1 dir=$2; shift 2
	local out rc
	out=$(python3 "$tidy" --root "$dir" "$@" 2>&1); rc=$?
	if [ $rc -eq 0 ]; then ok "$what: exit 0"; else not_ok "$what: exit $rc, want 0"; echo "$out"; fi
}

expect_violation() { # what dir pattern [args...]
	local what=$1 dir=$2 pattern=$3; shift 3
	local out rc
	out=$(python3 "$tidy" --root "$dir" "$@" 2>&1); rc=$?
	if [ $rc -ne 1 ]; then
		not_ok "$what: exit $rc, want 1"; echo "$out"
	elif ! grep -qE -- "$pattern" <<<"$out"; then
		not_ok "$what: no line matches /$pattern/"; echo "$out"
	else
		ok "$what: exit 1, $(grep -E -- "$pattern" <<<"$out" | head -1)"
	fi
}

plant() { # name: a fresh copy of the clean tree in $tmp/name
	rm -rf "${tmp:?}/$1"
	cp -a "$tmp/clean" "$tmp/$1"
	echo "$tmp/$1"
}

make_clean "$tmp/clean"
expect_clean "clean tree (git ls-files)" "$tmp/clean"
rm -rf "$tmp/plain" && cp -a "$tmp/clean" "$tmp/plain" && rm -rf "$tmp/plain/.git"
expect_clean "clean tree (no git: a walk, build/ skipped)" "$tmp/plain"

# a: stdio in the core, another module from the core, a clock in raft.h.
d=$(plant purity)
sed -i 's/#include <string.h>/#include <stdio.h>/' "$d/src/raft/step.c"
expect_violation "purity: <stdio.h> in src/raft" "$d" '^src/raft/step\.c:3: purity: .*<stdio\.h>'
d=$(plant purity2)
sed -i 's|#include "concord/raft.h"|#include "kv/kv.h"|' "$d/src/raft/impl.h"
expect_violation "purity: another module from src/raft" "$d" '^src/raft/impl\.h:8: purity: .*"kv/kv\.h"'
d=$(plant purity3)
sed -i 's/#include <stdint.h>/#include <time.h>/' "$d/include/concord/raft.h"
expect_violation "purity: <time.h> in raft.h" "$d" '^include/concord/raft\.h:5: purity: .*clock'

# b: a mis-formatted file.
d=$(plant format)
sed -i 's/^int kv_short(int x)$/int   kv_short( int x )/' "$d/src/kv/kv.c"
expect_violation "format: mis-formatted file" "$d" '^src/kv/kv\.c:4: format: differs from clang-format'

# c: a 200-column line.
d=$(plant width)
printf '/* %0194d */\n' 0 >>"$d/src/kv/kv.c"
(cd "$d" && git add -A)
expect_violation "width: a 200-column line" "$d" '^src/kv/kv\.c:[0-9]+: width: line is 200 columns' --only width

# d: a new 80-line function; a stale allowlist entry.
d=$(plant functions)
{ echo ""; function_of kv_new_long 80; } >>"$d/src/kv/kv.c"
expect_violation "functions: a new 80-line function" "$d" \
	'^src/kv/kv\.c:[0-9]+: functions: new function over 70 lines: kv_new_long is 80 lines'
d=$(plant stale)
python3 - "$d/src/kv/kv.c" <<-'EOF'
	import sys
	p = sys.argv[1]
	lines = open(p).read().split("\n")
	start = lines.index("int kv_long(int x)")
	del lines[start + 2:start + 40]  # 75 lines become 37
	open(p, "w").write("\n".join(lines))
	EOF
expect_violation "functions: a stale allowlist entry" "$d" \
	'^tools/tidy/long_functions\.txt:1: functions: src/kv/kv\.c:kv_long .*remove it from the allowlist'
d=$(plant gone)
echo "src/kv/gone.c:vanished" >>"$d/tools/tidy/long_functions.txt"
expect_violation "functions: an allowlisted function that is gone" "$d" \
	'^tools/tidy/long_functions\.txt:2: functions: src/kv/gone\.c:vanished .*remove it'

# e: the cheap rules.
d=$(plant header)
sed -i '1d' "$d/src/kv/kv.c"
expect_violation "header: no opening comment" "$d" '^src/kv/kv\.c:1: header: ' --only header
d=$(plant guard)
sed -i '/CONCORD_RAFT_IMPL_H/d' "$d/src/raft/impl.h"
expect_violation "header: no include guard" "$d" '^src/raft/impl\.h:1: header: .*include guard'
d=$(plant todo)
sed -i 's|x += 1;|x += 1; /* TODO make this faster */|' "$d/src/kv/kv.c"
expect_violation "todo: TODO without an issue" "$d" '^src/kv/kv\.c:[0-9]+: todo: TODO without an issue'
d=$(plant whitespace)
sed -i 's|^	return x;$|	return x; |' "$d/src/raft/step.c"
expect_violation "whitespace: trailing space" "$d" '^src/raft/step\.c:[0-9]+: whitespace: trailing' \
	--only whitespace

# --only and usage.
d=$(plant only)
sed -i 's/#include <string.h>/#include <stdio.h>/' "$d/src/raft/step.c"
expect_clean "--only width ignores a purity violation" "$d" --only width
out=$(python3 "$tidy" --root "$tmp/clean" --only nonsense 2>&1); rc=$?
if [ $rc -eq 2 ]; then ok "--only nonsense: exit 2"; else not_ok "--only nonsense: exit $rc, want 2"; fi

# --write-allowlist writes the long functions, sorted.
d=$(plant write)
{ echo ""; function_of kv_another_long 71; } >>"$d/src/kv/kv.c"
python3 "$tidy" --root "$d" --write-allowlist >/dev/null
want=$'src/kv/kv.c:kv_another_long\nsrc/kv/kv.c:kv_long'
if [ "$(cat "$d/tools/tidy/long_functions.txt")" = "$want" ]; then
	ok "--write-allowlist"
else
	not_ok "--write-allowlist wrote:"; cat "$d/tools/tidy/long_functions.txt"
fi
expect_clean "the tree after --write-allowlist" "$d"

if [ $failures -ne 0 ]; then
	echo "test_tidy: $failures failed"
	exit 1
fi
echo "test_tidy: all passed"

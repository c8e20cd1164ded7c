#!/usr/bin/env bash
# Everything the runtime libraries export to a program that embeds a model carries the
# cnnrt_ prefix (runtime/cnnrt_*.h), so that it cannot collide with the embedding program's
# own names: every global symbol libcnnrt.a and libcnnrt_core.a define, and all but main()
# in libcnnrt_main.a. The object of `cnnc -c` defines only the model's own NAME_* symbols
# next to them.
set -euo pipefail
source "$(dirname "$0")/common.bash"
lib=$bin/../lib
command -v nm >/dev/null || fail "nm (binutils) is needed to list the runtime's symbols"

# defined_globals ARCHIVE: the global symbols the archive's objects define, one a line.
defined_globals() {
  nm -g --defined-only "$1" | awk 'NF == 3 { print $3 }' | sort -u
}

for archive in libcnnrt.a libcnnrt_core.a libcnnrt_main.a; do
  [ -f "$lib/$archive" ] || fail "$lib/$archive not built"
  symbols=$(defined_globals "$lib/$archive")
  [ -n "$symbols" ] || fail "$archive defines no global symbol (is nm reading it?)"
  stray=$(grep -v '^cnnrt_' <<<"$symbols" | grep -vx 'main' || true)
  [ -z "$stray" ] || fail "$archive defines symbols without the cnnrt_ prefix: $(echo $stray)"
done
defined_globals "$lib/libcnnrt_main.a" | grep -qx main || fail "libcnnrt_main.a has no main()"
# The check above can fail: a symbol without the prefix is caught.
grep -v '^cnnrt_' <<<"$(printf 'cnnrt_a\nprog_error\n')" | grep -qx prog_error ||
  fail "the filter lets prog_error through"

enter_workdir
write_tiny_model tiny.cnn
"$bin/cnnc" tiny.cnn -c -O0 -o tiny.o
stray=$(defined_globals tiny.o | grep -v '^tiny_' | grep -v '^cnnrt_' || true)
[ -z "$stray" ] || fail "cnnc -c defines symbols outside tiny_ and cnnrt_: $(echo $stray)"
echo "ok: libcnnrt, libcnnrt_core and libcnnrt_main export only cnnrt_* (and main)"

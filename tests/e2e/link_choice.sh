#!/usr/bin/env bash
# The linker cnnc asks for (compiler/link.c): its default C compiler links with gold when
# ld.gold is on PATH, and with the compiler's own default when it is not; a C compiler the
# user chose ($CC) gets no -fuse-ld. Each way the program links and runs.
# A `cc` first on PATH logs its arguments and runs the real one.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir

write_tiny_model tiny.cnn

real_cc=$(command -v cc) || { echo "skipped: no cc"; exit 77; }
mkdir with_gold no_gold
for dir in with_gold no_gold; do
  printf '#!/bin/sh\necho "$@" > %s/args\nexec %s "$@"\n' "$tmp/$dir" "$real_cc" > $dir/cc
  chmod +x $dir/cc
done
# no_gold: cc and the default linker only (gcc finds `ld` on PATH, clang beside itself).
ln -s "$(command -v ld)" no_gold/ld

if command -v ld.gold > /dev/null; then
  env -u CC PATH="$tmp/with_gold:$PATH" "$bin/cnnc" tiny.cnn -o tiny_gold
  grep -q -- "-fuse-ld=gold" with_gold/args || fail "ld.gold is on PATH but was not asked for: $(cat with_gold/args)"
  ./tiny_gold summary > /dev/null || fail "the program linked with gold does not run"
fi

env -u CC PATH="$tmp/no_gold" "$bin/cnnc" tiny.cnn -o tiny_default
grep -q -- "-fuse-ld" no_gold/args && fail "without ld.gold, cnnc still asked for a linker: $(cat no_gold/args)"
./tiny_default summary > /dev/null || fail "the program linked without gold does not run"

rm -f with_gold/args
CC="$tmp/with_gold/cc" PATH="$tmp/with_gold:$PATH" "$bin/cnnc" tiny.cnn -o tiny_cc
grep -q -- "-fuse-ld" with_gold/args && fail "\$CC was given, yet cnnc chose its linker: $(cat with_gold/args)"
./tiny_cc summary > /dev/null || fail "the program linked with \$CC does not run"
if [ -e tiny_gold ]; then
  cmp -s <(./tiny_gold summary) <(./tiny_default summary) || fail "the programs describe themselves differently"
fi
echo "ok"

#!/usr/bin/env bash
# `cmake --install` puts cnnc, libcnnrt and its headers under a prefix (scripts/demo.sh
# does it, into /usr/local or ~/.local), installing again changes nothing, and the installed
# cnnc works from any directory, called by name through the PATH: it finds the runtime
# beside itself (prefix/lib) and links a program that runs, and an object + header build
# against the installed headers.
set -euo pipefail
source "$(dirname "$0")/common.bash"
build=$(cd "$bin/.." && pwd)

enter_workdir
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" || fail "cmake --install failed"
[ -x "$prefix/bin/cnnc" ] || fail "no bin/cnnc under the prefix"
libdir=$(dirname "$(find "$prefix" -name libcnnrt.a | head -1)")
[ -f "$libdir/libcnnrt.a" ] && [ -f "$libdir/libcnnrt_main.a" ] || fail "runtime libraries missing"
[ -f "$prefix/include/cnnrt_model.h" ] || fail "cnnrt_model.h not installed"
cmake --install "$build" --prefix "$prefix" > "$tmp/again.log" || fail "a second cmake --install failed"
grep -q "Installing:" "$tmp/again.log" && fail "installing again rewrote files: $(cat "$tmp/again.log")"
grep -q "Up-to-date: $prefix/bin/cnnc" "$tmp/again.log" || fail "unexpected second install: $(cat "$tmp/again.log")"

mkdir "$tmp/elsewhere"
cd "$tmp/elsewhere"
cat > tiny.cnn <<'MODEL'
model tiny
input   shape=8x8x1
conv2d  filters=4 kernel=3 activation=relu
flatten
dense   units=3
softmax
MODEL
# The installed cnnc, by name from the PATH, with the build tree out of its way (no
# CNNC_RUNTIME_DIR set).
[ "$(PATH="$prefix/bin:$PATH" command -v cnnc)" = "$prefix/bin/cnnc" ] || fail "cnnc is not found on the PATH"
PATH="$prefix/bin:$PATH" env -u CNNC_RUNTIME_DIR cnnc tiny.cnn -O0 -o tiny_prog ||
  fail "installed cnnc could not link a program"
./tiny_prog summary | grep -q 'Total params' || fail "the installed cnnc's program does not run"

# Embedding: object + header, compiled against the installed headers only.
"$prefix/bin/cnnc" tiny.cnn -O0 -c -o tiny.o
[ -f tiny.h ] || fail "-c did not write tiny.h"
cat > use.c <<'C'
#include <stdio.h>
#include "tiny.h"
int main(void) { printf("%s %lld\n", tiny_model.name, (long long)tiny_model.num_classes); return 0; }
C
cc -std=c11 -I"$prefix/include" -I. use.c tiny.o -L"$libdir" -lcnnrt -lpng -ljpeg -lgif -lz -lm -lpthread -o use \
  || fail "a C program does not build against the installed header and library"
[ "$(./use)" = "tiny 3" ] || fail "the embedded model's descriptor reads wrong: $(./use)"
echo "install: ok"

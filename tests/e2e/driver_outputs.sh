#!/usr/bin/env bash
# Where cnnc writes, and what it refuses: an output that is the model file itself (by name,
# symbolic or hard link) is refused for every kind of output, as gcc does; -c -o x.h (the
# header would overwrite the object) is refused; every failed write (/dev/full) is a
# "cnnc: error:" naming the file; a model named cnnrt gives a header that compiles next to
# every runtime header; the longest layer and model names accepted give a program that
# runs, trains and saves its weights. Needs no data set (a few IDX images are made here).
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc
lib=$bin/../lib

enter_workdir
write_tiny_model s.cnn
cp s.cnn s.orig
ln -s s.cnn symlink.cnn
ln s.cnn hardlink.cnn

# refuse FRAGMENT ARGS...: cnnc must fail with FRAGMENT and leave s.cnn as it was.
refuse() {
  local fragment=$1 out status=0
  shift
  out=$("$cnnc" "$@" 2>&1) || status=$?
  [ "$status" != 0 ] || fail "'cnnc $*' succeeded; expected a refusal"
  grep -qF -- "$fragment" <<<"$out" || fail "'cnnc $*': expected '$fragment' in: $out"
  cmp -s s.cnn s.orig || fail "'cnnc $*' changed the model file"
}

# ---- the output is the model file ----------------------------------------------------------
for flags in "" "-c" "-S" "--emit-llvm" "--dump-graph=dot" "--summary" "--dump-ir"; do
  # shellcheck disable=SC2086
  refuse "cnnc: error: the output file 's.cnn' is the model file 's.cnn'; refusing" \
    s.cnn $flags -O0 -o s.cnn
done
for out in ./s.cnn symlink.cnn hardlink.cnn "$tmp/s.cnn"; do
  refuse "cnnc: error: the output file '$out' is the model file 's.cnn'; refusing" \
    s.cnn -O0 -o "$out"
done
# Given as the link, written to the original.
refuse "the output file 's.cnn' is the model file 'symlink.cnn'" symlink.cnn -O0 -o s.cnn
# -c writes a header beside the object: that may be the model file too.
cp s.cnn m.h
refuse "would write its header 'm.h' over the model file 'm.h'" m.h -c -O0 -o m.o
[ ! -e m.o ] || fail "the object was written although its header would overwrite the model"
rm m.h

# ---- -c -o x.h: the header would be the object ----------------------------------------------
refuse "cnnc: error: -c -o out.h: the header of the object file would be 'out.h', the object file itself" \
  s.cnn -c -O0 -o out.h
[ ! -e out.h ] || fail "-c -o out.h wrote out.h"
"$cnnc" s.cnn -c -O0 -o out.o
[ -s out.o ] && [ -s out.h ] || fail "-c -o out.o did not write out.o and out.h"

# -o - is standard output, as it was when LLVM wrote the file itself.
"$cnnc" s.cnn --emit-llvm -O0 -o - > stdout.ll
grep -q 'define void @tiny_infer' stdout.ll || fail "--emit-llvm -o - wrote no IR to standard output"
[ ! -e ./- ] || fail "--emit-llvm -o - wrote a file named '-'"

# ---- failed writes name their file -------------------------------------------------------------
# The header is written after the object: its failure is named too.
mkdir hdr.h
out=$("$cnnc" s.cnn -c -O0 -o hdr.o 2>&1) && fail "-c with a directory as the header succeeded"
grep -qF "cnnc: error: cannot write 'hdr.h': Is a directory" <<<"$out" || fail "header: $out"
rmdir hdr.h
if [ -w /dev/full ]; then
  for flags in "--emit-llvm" "-S" "-c" "--dump-graph=dot" "--summary" ""; do
    status=0
    # shellcheck disable=SC2086
    out=$("$cnnc" s.cnn $flags -O0 -o /dev/full 2>&1) || status=$?
    [ "$status" != 0 ] || fail "'$flags -o /dev/full' succeeded"
    grep -qF "cnnc: error: cannot write '/dev/full'" <<<"$out" ||
      fail "'$flags -o /dev/full' does not name the file: $out"
    grep -q "LLVM ERROR" <<<"$out" && fail "'$flags -o /dev/full' let LLVM speak: $out"
  done
  for flags in "--summary" "--dump-ir=lowered" "--emit-llvm -o -"; do
    status=0
    # shellcheck disable=SC2086
    out=$("$cnnc" s.cnn $flags -O0 2>&1 >/dev/full) || status=$?
    [ "$status" != 0 ] || fail "'$flags > /dev/full' succeeded"
    grep -qF "cnnc: error: cannot write 'standard output'" <<<"$out" ||
      fail "'$flags > /dev/full' does not say so: $out"
  done
fi

# ---- a model named cnnrt ----------------------------------------------------------------------
sed 's/^model tiny/model cnnrt/' s.cnn > cnnrt.cnn
"$cnnc" cnnrt.cnn -c -O0 -o x.o
grep -q 'extern const cnnrt_model model_cnnrt_model;' x.h || fail "x.h: $(cat x.h)"
{
  for h in "$src"/runtime/cnnrt*.h; do echo "#include \"$(basename "$h")\""; done
  cat <<'C'
#include "x.h"
#include <stdio.h>
int main(void)
{
    const cnnrt_model *m = &model_cnnrt_model;
    printf("%s %d\n", m->name, MODEL_CNNRT_NUM_CLASSES);
    return 0;
}
C
} > uses_all.c
cc -std=c11 -Wall -Wextra -Werror -I. -I"$src/runtime" uses_all.c x.o "$lib/libcnnrt.a" \
  -lpng -lz -lm -lpthread -o uses_all || fail "a C file with x.h and the runtime headers does not build"
[ "$(./uses_all)" = "cnnrt 3" ] || fail "the cnnrt model's descriptor reads wrong: $(./uses_all)"
# And as a program (whose object also defines cnnrt_program_model).
sed 's/^model tiny/model cnnrt_program/' s.cnn > cnnrt_program.cnn
"$cnnc" cnnrt_program.cnn -O0 -o cnnrt_program
./cnnrt_program summary | grep -q 'cnnrt_program' || fail "the program of model cnnrt_program"

# ---- the longest names accepted work in the program ------------------------------------------
layer=$(printf 'l%.0s' $(seq 120))
model=$(printf 'm%.0s' $(seq 127))
cat > long.cnn <<MODEL
model $model
input   shape=8x8x1
conv2d  filters=2 kernel=3 activation=relu name=$layer
flatten
dense   units=3 activation=softmax
compile optimizer=sgd
fit     epochs=1 batch_size=4
gradcam layer=$layer
MODEL
"$cnnc" long.cnn -O0 -o long
./long summary | grep -qF "$layer" || fail "summary of the long names: $(./long summary 2>&1)"
# A few 8x8 images in IDX files, so that train runs to the end and saves its weights.
mkdir data
python3 - data <<'PY'
import os, struct, sys
d = sys.argv[1]
def write(name, magic, dims, body):
    with open(os.path.join(d, name), "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", n) for n in dims) + body)
n = 12
images = bytes((i * 37 + j * 11) % 256 for i in range(n) for j in range(64))
labels = bytes(i % 3 for i in range(n))
for prefix in ("train", "t10k"):
    write(prefix + "-images-idx3-ubyte", 0x803, (n, 8, 8), images)
    write(prefix + "-labels-idx1-ubyte", 0x801, (n,), labels)
PY
./long train --data data --quiet || fail "train with the longest model name failed"
[ -s "$model.weights" ] || fail "train did not write $model.weights"
./long evaluate --data data >/dev/null || fail "evaluate with the longest names failed"
# One character more is refused at compile time, at the name.
sed "s/^model $model/model ${model}m/" long.cnn > longer.cnn
out=$("$cnnc" longer.cnn -O0 -o longer 2>&1) && fail "a 128-character model name was accepted"
grep -qF "longer.cnn:1:7: error: the model name is 128 characters long" <<<"$out" || fail "$out"
sed "s/name=$layer/name=${layer}l/" long.cnn > longer.cnn
out=$("$cnnc" longer.cnn -O0 -o longer 2>&1) && fail "a 121-character layer name was accepted"
grep -qF "longer.cnn:3:49: error: the layer name is 121 characters long" <<<"$out" || fail "$out"
echo "ok"

#!/usr/bin/env bash
# What is compiled cheaply (codegen_module.h, cg_mark_glue): at the default -O2 every worker
# of every program (the Grad-CAM team and batch workers, the training step's, guided
# backpropagation's) carries optnone, and no kernel does -- the kernels are what the
# optimiser is for.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir

"$bin/cnnc" "$src/models/mnist.cnn" --emit-llvm -o mnist.ll
# "NAME GROUP-CONTENTS" for every defined function.
awk '/^attributes #/ { g = $2; sub(/^[^{]*\{ */, ""); sub(/ *\}.*$/, ""); attrs[g] = $0 }
     /^define/ { name = $0; sub(/^[^@]*@/, "", name); sub(/\(.*$/, "", name)
                 group = $0; sub(/^.*\) [^#]*/, "", group); sub(/ .*$/, "", group)
                 fn[name] = group }
     END { for (f in fn) print f, attrs[fn[f]] }' mnist.ll > attrs.txt
grep -q '^mnist_cam_gradcam_team ' attrs.txt || fail "no Grad-CAM team worker in the IR"
workers=$(grep -cE '^[a-z_]+_(worker|team|worker_phase[0-9]+) ' attrs.txt)
[ "$workers" -ge 5 ] || fail "only $workers workers found"
if grep -E '^[a-z_]+_(worker|team|worker_phase[0-9]+) ' attrs.txt | grep -vw optnone; then
  fail "a worker is optimised"
fi
kernels=$(grep -cE '^mnist_cam_k[0-9]+_' attrs.txt)
[ "$kernels" -ge 20 ] || fail "only $kernels kernels found"
if grep -E '^mnist_cam_k[0-9]+_' attrs.txt | grep -w optnone; then
  fail "a kernel is not optimised"
fi
echo "ok"

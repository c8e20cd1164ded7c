#!/usr/bin/env bash
# Cross-compiling for WebAssembly: `cnnc --target wasm32` emits a wasm32 object, clang-19
# compiles the runtime core and examples/wasm/model_exports.c, wasm-ld (lld-19) links them
# with wasi-libc into a module without imports, and Node.js runs it (examples/wasm/run.mjs):
# the same class, probabilities and Grad-CAM map as the host's full program on the same
# weights. The tools are installed when missing (scripts/install-cross.sh wasm32); if they
# cannot be, the test fails and says so.
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/embed_common.bash"
use_digits
install_cross wasm32 "clang-19, lld-19, wasi-libc or Node.js"
enter_workdir
train_small_model

cross_build wasm32 web
imports=$(node -e 'const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
  console.log(WebAssembly.Module.imports(m).length)' web/mnist.wasm)
[ "$imports" = 0 ] || fail "the module has $imports imports (it must need none)"
in_node() { node "$src/examples/wasm/run.mjs" web/mnist.wasm "$1" --gradcam; }
expect_digits in_node 0 3
# Arguments out of range are refused (-1), not a trap.
out=$(node --input-type=module -e '
  import { readFileSync } from "node:fs";
  const { instance } = await WebAssembly.instantiate(readFileSync("web/mnist.wasm"), {});
  const m = instance.exports;
  console.log(m.cnnc_gradcam(99, 1, -1), m.cnnc_gradcam(0, 99, -1), m.cnnc_gradcam(0, 1, 10));')
[ "$out" = "-1 -1 -1" ] || fail "bad Grad-CAM arguments gave $out, expected -1 -1 -1"
echo "ok"

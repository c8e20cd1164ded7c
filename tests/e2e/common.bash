# Shared by the end-to-end tests (sourced, not run: ctest runs only tests/e2e/*.sh).
#   src, bin   the source tree and the directory holding the built cnnc
#   fail MSG   reports a failure and stops the test
#   use_digits exports CNNC_DATA as an absolute path to the default digits, or exits 77
#              (ctest: skipped) when they have not been fetched
#   enter_workdir  makes a temporary directory, removed on exit, and enters it ($tmp)
#   digit_subset DIR TRAIN TEST  writes the first TRAIN training and TEST test digits of
#              $data (after use_digits) into DIR as raw IDX files, for tests that need a
#              small, fast data set
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

# Shared by the end-to-end tests (sourced, not run: ctest runs only tests/e2e/*.sh).
#   src, bin   the source tree and the directory holding the built cnnc
#   fail MSG   reports a failure and stops the test
#   use_digits exports CNNC_DATA as an absolute path to the default digits, or exits 77
#              (ctest: skipped) when they have not been fetched
#   enter_workdir  makes a temporary directory, removed on exit, and enters it ($tmp)
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

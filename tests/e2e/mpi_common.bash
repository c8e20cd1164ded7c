# Shared by the tests/e2e/mpi_*.sh tests (sourced after common.bash): runs under mpirun.
#   mpi_setup    skips (77) when mpirun is missing (scripts/install-mpi.sh installs Open MPI;
#                scripts/test.sh runs it), compiles models/mnist.cnn into ./mnist_cam, writes
#                1,000 training and 200 test digits into ./digits and exports CNNC_DATA
#   mpi N ARGS   mpirun with N processes (as root as well: the test machines run as root)
#   max_weight_difference A B   the largest |a - b| over the tensors of two weights files
mpi_setup() {
  if ! command -v mpirun >/dev/null 2>&1; then
    echo "skipped: no mpirun (scripts/install-mpi.sh installs Open MPI)"
    exit 77
  fi
  use_digits
  enter_workdir
  "$bin/cnnc" "$src/models/mnist.cnn" -o mnist_cam
  digit_subset digits 1000 200
  export CNNC_DATA=$tmp/digits
}

mpi() {
  local n=$1
  shift
  mpirun --allow-run-as-root --oversubscribe -np "$n" "$@"
}

max_weight_difference() {
  python3 - "$1" "$2" <<'PY'
import struct, sys
def tensors(path):
    b = open(path, "rb").read()
    pos = 32
    def u32():
        nonlocal pos; v = struct.unpack_from("<I", b, pos)[0]; pos += 4; return v
    def u64():
        nonlocal pos; v = struct.unpack_from("<Q", b, pos)[0]; pos += 8; return v
    def skip_string():
        nonlocal pos; n = u32(); pos += n
    skip_string()  # the model name
    out = []
    for _ in range(u32()):
        skip_string()
        count = 1
        for _ in range(u32()):
            count *= u64()
        out += struct.unpack_from("<%df" % count, b, pos)
        pos += 4 * count
    return out
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert len(a) == len(b)
print("%.3g" % max(abs(x - y) for x, y in zip(a, b)))
PY
}

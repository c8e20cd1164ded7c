#!/usr/bin/env bash
# batch_norm under mpirun (runtime/mpi_train.c, docs/scaling.md): the batch statistics are
# those of the whole batch (every rank gathers the others' per-image rows at each phase
# boundary and sums them in image order, as one process does), so 2 ranks x 1 thread
# write the same bytes as 1 process x 2 threads -- the moving statistics, the weights and
# the optimizer state, over a conv (per-channel) and a dense (per-unit) batch_norm:
#   - a batch of 32 split over 2 ranks, 1 epoch on 1,000 digits;
#   - a batch of 1, so that rank 0's share is empty at every step (it must still take part
#     in every statistic and update its moving statistics alike);
#   - the moving statistics have left their initial values (so the comparison covers them).
set -euo pipefail
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/mpi_common.bash"
mpi_setup

cat > bn.cnn <<'CNN'
model bn
input shape=28x28x1
conv2d filters=4 kernel=3 use_bias=false
batch_norm momentum=0.9
relu
max_pool2d
flatten
dense units=16
batch_norm momentum=0.8
relu
dense units=10
softmax
compile loss=categorical_crossentropy optimizer=adam metrics=acc
fit epochs=1 batch_size=32 validation_split=0.1
CNN
"$bin/cnnc" bn.cnn -O1 -o bn || fail "cnnc bn.cnn"

train=(train --epochs 1 --seed 5 --quiet)
./bn "${train[@]}" --threads 2 --weights one.weights
mpi 2 ./bn "${train[@]}" --threads 1 --weights two.weights
cmp one.weights two.weights || fail "2 ranks x 1 thread differ from 1 process x 2 threads: \
largest weight difference $(max_weight_difference one.weights two.weights)"
cmp one.history.csv two.history.csv || fail "the histories differ"

# The moving statistics moved away from 0 (means) and 1 (variances).
python3 - two.weights <<'PY' || fail "the moving statistics did not move"
import struct, sys
b = open(sys.argv[1], "rb").read()
pos = 32
def u32():
    global pos; v = struct.unpack_from("<I", b, pos)[0]; pos += 4; return v
def u64():
    global pos; v = struct.unpack_from("<Q", b, pos)[0]; pos += 8; return v
def string():
    global pos; n = u32(); v = b[pos:pos + n].decode(); pos += n; return v
string()
moved = {}
for _ in range(u32()):
    name = string()
    count = 1
    for _ in range(u32()):
        count *= u64()
    values = struct.unpack_from("<%df" % count, b, pos)
    pos += 4 * count
    if "moving_mean" in name:
        moved[name] = all(v != 0.0 for v in values)
    elif "moving_variance" in name:
        moved[name] = all(v != 1.0 for v in values)
print(moved)
sys.exit(0 if len(moved) == 4 and all(moved.values()) else 1)
PY

# A batch of one image: rank 0's share is empty at every step.
digit_subset few 24 4
small=(train --epochs 1 --seed 5 --quiet --batch-size 1 --data few)
./bn "${small[@]}" --threads 1 --weights one_image.weights
mpi 2 ./bn "${small[@]}" --threads 1 --weights one_image_two.weights
cmp one_image.weights one_image_two.weights ||
  fail "batches of 1 over 2 ranks differ from 1 process"
echo "ok"

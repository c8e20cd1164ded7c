#!/usr/bin/env bash
# `train`'s callbacks, --epochs 0, --initial-epoch and augmentation, on a small model and 600
# digits (seconds):
#   - early stopping with min_delta=100 counts only the first epoch as an improvement, so with
#     patience 2 it stops after epoch 3 and restores epoch 1's weights: the same weights as a
#     run of one epoch (evaluate prints the same figures);
#   - 2 epochs then --resume give the same bytes as the uninterrupted run, with early stopping, the best-weights file and ReduceLROnPlateau
#     (which fires at the epoch Keras's rule gives);
#   - --epochs 0 saves the initial weights, and resuming them equals a fresh run;
#   - --initial-epoch numbers the epochs from N+1 (empty history rows before);
#   - augmentation changes training, is the same from the same seed, and is absent from
#     evaluate (a model without it evaluates the same weights the same way).
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
digit_subset d 600 100
export CNNC_DATA=$tmp/d

model() {   # NAME EXTRA-LINES...
  local name=$1
  shift
  {
    printf 'model tiny\ninput shape=28x28x1\n'
    for line in "$@"; do case $line in random_*) echo "$line" ;; esac; done
    printf 'conv2d filters=4 kernel=3 activation=relu\nmax_pool2d\nflatten\ndense units=10\n'
    printf 'softmax\ncompile optimizer=adam lr=0.001\n'
    printf 'fit epochs=8 batch_size=20 validation_split=0.2\n'
    for line in "$@"; do case $line in random_*) ;; *) echo "$line" ;; esac; done
  } > "$name.cnn"
  "$bin/cnnc" "$name.cnn" -o "$name" || fail "$name.cnn does not compile"
}
run() { "./$1" train --threads 1 "${@:2}"; }
figures() { "./$1" evaluate --weights "$2" | grep -v '^Weights:'; }   # PROG WEIGHTS

# ---- early stopping stops at epoch 3 and restores epoch 1 ----------------------------------
model es "early_stopping patience=2 min_delta=100 restore_best_weights=true" \
  "model_checkpoint save_best_only=true"
model plain
run es --weights es.weights > es.out
grep -q "^Epoch 3: early stopping" es.out || fail "no early stop at epoch 3: $(cat es.out)"
grep -q "best epoch: 1\." es.out || fail "did not restore epoch 1: $(cat es.out)"
[ "$(grep -c '^Epoch [0-9]*/8' es.out)" = 3 ] || fail "trained other than 3 epochs: $(cat es.out)"
[ -f es.best.weights ] || fail "no es.best.weights"
run plain --epochs 1 --quiet --weights one.weights
figures plain es.weights > es.eval
figures plain one.weights > one.eval
cmp -s es.eval one.eval || fail "restored weights differ from epoch 1's: $(cat es.eval one.eval)"
figures plain es.best.weights > /dev/null || fail "best weights do not evaluate"

# ---- resume equals an uninterrupted run, callbacks included ---------------------------------
run es --epochs 2 --quiet --weights part.weights
run es --resume --quiet --weights part.weights
cmp -s es.weights part.weights || fail "early stopping: 2 epochs + resume differ from one run"
cmp -s es.best.weights part.best.weights || fail "the best weights differ after resume"
out=$(run es --resume --epochs 9 --weights es.weights 2>&1) && fail "resumed a stopped run"
grep -q "early stopping ended its training after epoch 3" <<<"$out" || fail "message: $out"
# and after a run that ended with restored weights, resuming continues from the last ones
model es8 "early_stopping patience=50 restore_best_weights=true"
run es8 --epochs 4 --quiet --weights whole.weights
run es8 --epochs 2 --quiet --weights half.weights
run es8 --resume --epochs 4 --quiet --weights half.weights
cmp -s whole.weights half.weights || fail "restore_best_weights: 2 epochs + resume differ"

model rlr "reduce_lr_on_plateau patience=1 min_delta=100 factor=0.5"
run rlr --epochs 4 --weights rlr.weights > rlr.out
grep -q "^Epoch 2: ReduceLROnPlateau reducing learning rate to 0.0005\.$" rlr.out ||
  fail "no reduction at epoch 2: $(cat rlr.out)"
grep -q "^Epoch 3: ReduceLROnPlateau reducing learning rate to 0.00025\.$" rlr.out ||
  fail "no reduction at epoch 3: $(cat rlr.out)"
run rlr --epochs 2 --quiet --weights rlr2.weights
run rlr --resume --epochs 4 --quiet --weights rlr2.weights
cmp -s rlr.weights rlr2.weights || fail "reduce_lr_on_plateau: 2 epochs + resume differ"
# the same callback from the command line
run plain --epochs 4 --quiet --reduce-lr-on-plateau 1 --min-delta 0 --weights cli.weights \
  --reduce-lr-factor 0.5 > /dev/null
model sched "exponential_decay decay_steps=24 decay_rate=0.5"
run sched --epochs 2 --quiet --weights s.weights
run sched --epochs 1 --quiet --weights s1.weights
run sched --resume --epochs 2 --quiet --weights s1.weights
cmp -s s.weights s1.weights || fail "a schedule: 1 epoch + resume differ"
run plain --epochs 2 --quiet --weights p2.weights
figures plain s.weights > s.eval
figures plain p2.weights > p2.eval
cmp -s s.eval p2.eval && fail "the schedule changed nothing"

# ---- --epochs 0 and --initial-epoch ----------------------------------------------------------
run plain --epochs 0 --weights zero.weights > zero.out
grep -q "Saved the initial weights (seed 42, not trained" zero.out || fail "$(cat zero.out)"
run plain --resume --epochs 1 --quiet --weights zero.weights
cmp -s zero.weights one.weights || fail "--epochs 0 + resume differ from one epoch"
run plain --initial-epoch 2 --epochs 3 --quiet --weights init.weights
[ "$(sed -n 2p init.history.csv)" = "1,,,," ] || fail "history: $(cat init.history.csv)"
[ "$(wc -l < init.history.csv)" = 4 ] || fail "history: $(cat init.history.csv)"

# ---- augmentation -------------------------------------------------------------------------
model aug "random_flip mode=horizontal" "random_rotation factor=0.05" \
  "random_translation height_factor=0.1 width_factor=0.1" "random_zoom height_factor=0.1" \
  "random_contrast factor=0.2" "random_brightness factor=0.1"
run aug --epochs 1 --weights a1.weights > aug.out
grep -q "Augmenting the training pictures: random_flip, random_rotation" aug.out ||
  fail "no augmentation line: $(cat aug.out)"
run aug --epochs 1 --quiet --weights a2.weights
cmp -s a1.weights a2.weights || fail "augmentation is not the same from the same seed"
cmp -s a1.weights one.weights && fail "augmentation changed nothing"
figures aug a1.weights > a.eval
figures plain a1.weights > p.eval
cmp -s a.eval p.eval || fail "augmentation acts in evaluate: $(cat a.eval p.eval)"
model zero "random_rotation factor=0" "random_contrast factor=0" "random_brightness factor=0"
run zero --epochs 1 --quiet --weights z.weights
figures plain z.weights > z.eval
cmp -s z.eval one.eval || fail "augmentation at zero strength is not the identity"
# misplaced
printf 'input shape=28x28x1\nflatten\nrandom_flip\ndense units=10\n' > bad.cnn
out=$("$bin/cnnc" bad.cnn -o bad 2>&1) && fail "random_flip after a layer compiled"
grep -q "must come between 'input' and the first layer" <<<"$out" || fail "message: $out"
echo "callbacks, --epochs 0, --initial-epoch and augmentation behave"

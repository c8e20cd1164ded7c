#!/usr/bin/env bash
# What a picture folder may hold besides pictures and plain folders, end to end: named pipes,
# a link to /dev/zero, links to folders, a link loop. None of them can make `train` or
# `predict` wait, read without end or stop, and each is treated as Keras's
# image_dataset_from_directory (follow_links=False) treats it:
#   - a link to a folder at the top is a class folder (Keras lists classes with isdir, which
#     follows links); a link to a folder inside a class folder is not visited and is not a
#     file either: left out quietly, with or without --skip-bad (it used to stop the load);
#   - a named pipe, a socket or a device (also behind a link) is never opened: ignored like
#     any file that is not a picture, or, named like a picture, a bad picture saying what it
#     is (a link to /dev/zero used to be read up to 256 MiB first);
#   - a link loop cannot be read: a bad picture, named.
set -euo pipefail
source "$(dirname "$0")/common.bash"
enter_workdir

"$bin/cnnc-pictures" shapes set --count 30 --seed 2 >/dev/null
"$bin/cnnc" "$src/models/shapes.cnn" -O0 -o shapes
train() { timeout 120 ./shapes train --data "$1" --epochs 1 --threads 2 --weights w.weights "${@:2}"; }
pictures_in() { find "set/$1" -maxdepth 1 -type f | wc -l; }
expected=$(( $(pictures_in circle) + $(pictures_in square) + $(pictures_in triangle) ))

# ---- things that are not pictures, not named like one: ignored, never opened ----------------
mkfifo set/circle/pipe
ln -s /dev/zero set/square/zero
ln -s ../triangle set/circle/linked          # a link to a folder inside a class folder
ln -s "$PWD/set" set/square/up               # ... even one that leads back up
train set >out 2>err || fail "special files stopped the load: $(cat err)"
grep -q "Found $expected pictures of 3 classes in set" out ||
  fail "expected exactly the $expected pictures (nothing through the links): $(cat out)"
grep -q "skipped" err && fail "something was skipped: $(cat err)"
echo "a named pipe, a link to /dev/zero and links to folders: left out"

# ---- named like pictures: bad pictures that say what they are, left out by --skip-bad -------
mkfifo set/circle/pipe.png
ln -s /dev/zero set/square/zero.jpg
ln -s loop.png set/triangle/loop.png
status=0
train set >out 2>err || status=$?
[ "$status" = 1 ] || fail "bad pictures: status $status: $(cat err)"
grep -q "set/circle/pipe.png: is a named pipe, not a regular file (and 2 more unreadable pictures" err ||
  fail "the named pipe is not the first bad picture, named as such: $(cat err)"
train set --skip-bad >out 2>err || fail "--skip-bad: $(cat err)"
grep -q "skipped: set/square/zero.jpg: is a character device, not a regular file" err ||
  fail "the link to /dev/zero is not refused as a device: $(cat err)"
grep -q "skipped: set/triangle/loop.png: cannot open: a loop of symbolic links" err ||
  fail "the link loop is not named: $(cat err)"
grep -q "skipped 3 unreadable pictures" err || fail "expected 3 skipped: $(cat err)"
grep -q "Found $expected pictures of 3 classes in set" out || fail "count: $(cat out)"
echo "named like pictures: a named pipe, /dev/zero and a link loop are bad pictures, skipped"

# ---- class folders behind links: classes, as in Keras -------------------------------------
mkdir linked
for class in circle square triangle; do ln -s "../set/$class" "linked/$class"; done
train linked --skip-bad >out 2>err || fail "linked class folders: $(cat err)"
grep -q "Found $expected pictures of 3 classes in linked" out ||
  fail "linked class folders were not read as classes: $(cat out)"

# ---- predict on such a folder: only the pictures, nothing waits ------------------------------
rm set/triangle/loop.png   # kept for the reader to report, as a missing file would be
timeout 60 ./shapes predict set --weights w.weights --format csv >out 2>err ||
  fail "predict on the folder: $(cat err)"
[ "$(grep -c '^set/' out)" = "$expected" ] || fail "predict took other files: $(cat out)"
grep -q 'pipe\|zero\|loop\|linked\|/up/' out && fail "predict took a special file: $(cat out)"
echo "ok"

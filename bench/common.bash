# Shared by the benchmark scripts (sourced, not run). The sourcing script sets `me` (its
# name, for messages) first.
#   say MSG             a progress line on standard error
#   die MSG             an error naming the script, then exit 1
#   ensure_package PKG  installs a Debian package when it is missing (benchmarks only: the
#                       peers and tools they need are never dependencies of cnnc)

say() { printf '== %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${me:?}" "$*" >&2; exit 1; }

is_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

ensure_package() {
  is_installed "$1" && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "package $1 is missing and this is not root (no sudo)"
    sudo=sudo
  fi
  say "installing $1 (Debian package, for the benchmark only)"
  if ! apt-cache show "$1" >/dev/null 2>&1; then
    $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends "$1" >&2 || die "could not install $1"
}

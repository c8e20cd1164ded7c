#!/usr/bin/env bash
# How bin/cnnc links LLVM (compiler/CMakeLists.txt): with LLVM's static libraries when the
# build chose them (CNNC_STATIC_LLVM_LINKED in the build's CMakeCache.txt), libLLVM.so
# otherwise. A static cnnc must not need libLLVM.so at all (the dynamic loader would map
# and relocate it at every start), must not be position-independent (LLVM's relocations
# at every start), and must still reach every back end it was built with.
set -euo pipefail
source "$(dirname "$0")/common.bash"
cnnc=$bin/cnnc
cache=$bin/../CMakeCache.txt
[ -f "$cache" ] || fail "no $cache: cannot tell how this build links LLVM"
choice=$(sed -n 's/^CNNC_STATIC_LLVM_LINKED:INTERNAL=//p' "$cache")
[ -n "$choice" ] || fail "$cache does not say how cnnc links LLVM (CNNC_STATIC_LLVM_LINKED)"
needed=$(readelf -d "$cnnc" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || fail "readelf lists no shared library of $cnnc"

case "$choice" in
  ON)
    if grep -q '^libLLVM' <<<"$needed"; then
      fail "the build linked LLVM statically but cnnc needs $(grep '^libLLVM' <<<"$needed")"
    fi
    readelf -h "$cnnc" | grep -q 'Type: *EXEC' || fail "a static cnnc is position-independent"
    ;;
  OFF)
    grep -q '^libLLVM' <<<"$needed" || fail "the build chose the shared LLVM but cnnc does not need it"
    ;;
  *) fail "CNNC_STATIC_LLVM_LINKED is '$choice'" ;;
esac

# Every back end it was built with (CNNC_LLVM_TARGETS) is there, a target left out of the
# link would not be found; one it was not built with is a clear error, not a crash.
targets=$(sed -n 's/^CNNC_LLVM_TARGETS:STRING=//p' "$cache")
[ -n "$targets" ] || fail "$cache has no CNNC_LLVM_TARGETS"
enter_workdir
write_tiny_model tiny.cnn
"$cnnc" --version | grep -q 'LLVM' || fail "cnnc --version"
"$cnnc" tiny.cnn -c -O1 -o host.o
for pair in AArch64:aarch64-linux-gnu WebAssembly:wasm32 RISCV:riscv64-linux-gnu \
            ARM:armv7-linux-gnueabihf PowerPC:powerpc64le-linux-gnu SystemZ:s390x-linux-gnu; do
  target=${pair%%:*} triple=${pair#*:}
  if grep -qw "$target" <<<"${targets//;/ }"; then
    "$cnnc" tiny.cnn -c -O1 --target "$triple" -o out.o || fail "--target $triple ($target)"
    [ -s out.o ] || fail "--target $triple wrote no object"
  else
    if out=$("$cnnc" tiny.cnn -c -O1 --target "$triple" -o out.o 2>&1); then
      fail "--target $triple worked, but $target is not in CNNC_LLVM_TARGETS ($targets)"
    fi
    grep -q "cannot generate code for" <<<"$out" || fail "--target $triple: $out"
  fi
  rm -f out.o
done
echo "ok (static: $choice; targets: $targets)"

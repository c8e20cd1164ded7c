#!/usr/bin/env bash
# Installs Open MPI from Debian (libopenmpi-dev for mpicc/the headers, openmpi-bin for
# mpirun), only when missing: the data-parallel runtime (runtime/mpi.c) is built when CMake
# finds MPI, and the tests/e2e/mpi_*.sh tests need mpirun. Safe to run again and again.
set -euo pipefail
exec "$(dirname "$0")/install-deps.sh" libopenmpi-dev openmpi-bin

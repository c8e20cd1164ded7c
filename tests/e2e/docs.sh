#!/usr/bin/env bash
# The documentation test, quick part: every command shown in README.md and docs/*.md that
# is not marked long runs as written, in a fresh copy of the repository, and prints what
# the page shows (scripts/test-docs.sh; the convention is in tests/docs/run_docs.py).
set -euo pipefail
source "$(dirname "$0")/common.bash"
use_digits
enter_workdir
"$src/scripts/test-docs.sh" --build "$bin/.." 2>&1 | tee "$tmp/log"
summary=$(grep "^docs: ran " "$tmp/log") || fail "the docs test printed no summary"
# The README and the guide are where a newcomer starts: their commands must be there.
for page in README.md docs/guide.md; do
  grep -Eq "[(, ]$page [1-9][0-9]*[,)]" <<<"$summary" || fail "no command of $page ran: $summary"
done

#!/usr/bin/env bash
# The test of the docs test: tests/docs/run_docs.py passes a page that follows its
# convention (output compared, `...`, exit statuses, any-numbers, long and no-run blocks
# skipped unless asked), and fails, naming the page and line, on a broken command, on output
# other than shown, on a wrong exit status, on unshown lines, and on a misspelt marker, a
# ```sh block or an indented command.
set -euo pipefail
source "$(dirname "$0")/common.bash"
harness=$src/tests/docs/run_docs.py
fixtures=$src/tests/docs/fixtures

enter_workdir
export LC_ALL=C.UTF-8

# run_docs PAGE [OPTIONS]: runs the harness on a copy of a fixture in a fresh folder.
run_docs() {
  local page=$1
  shift
  rm -rf "$tmp/root" && mkdir "$tmp/root"
  cp "$fixtures/$page" "$tmp/root/"
  python3 "$harness" --root "$tmp/root" --timeout 60 "$@" "$page" > "$tmp/out" 2>&1
}

# ---- a page that follows the convention passes --------------------------------------------
run_docs good.md || fail "good.md failed: $(cat "$tmp/out")"
grep -q "^docs: ran 14 commands (good.md 14); not run: 1 in long blocks (run with --long), 1 in no-run blocks" "$tmp/out" ||
  fail "good.md: unexpected summary: $(cat "$tmp/out")"
[ -e "$tmp/root/long-block-ran" ] && fail "a long block ran without --long"
run_docs good.md --long || fail "good.md --long failed: $(cat "$tmp/out")"
[ -e "$tmp/root/long-block-ran" ] || fail "--long did not run the long block"
grep -q "not run: 0 in long blocks (run with --long), 1 in no-run" "$tmp/out" || fail "--long ran a no-run block: $(cat "$tmp/out")"

# ---- each broken page fails, and says where and why ----------------------------------------
# expect_failure PAGE LINE REASON: the harness exits 1 and reports PAGE:LINE with REASON.
expect_failure() {
  local page=$1 line=$2 reason=$3
  if run_docs "$page"; then
    fail "$page passed; it must fail: $(cat "$tmp/out")"
  fi
  grep -qF "FAIL $page:$line: $reason" "$tmp/out" ||
    fail "$page: expected 'FAIL $page:$line: $reason' in: $(cat "$tmp/out")"
}
expect_failure failing_command.md 9 "exit status 127, expected 0"
grep -q "cnnc-no-such-program: command not found" "$tmp/out" || fail "the error is not shown"
[ -e "$tmp/root/after-the-failure" ] && fail "the run went on after a failure"
expect_failure wrong_output.md 4 "the output differs from what the page shows"
grep -q "Test accuracy: 97.00%" "$tmp/out" && grep -q "Test accuracy: 96.45%" "$tmp/out" ||
  fail "the report does not show both outputs: $(cat "$tmp/out")"
expect_failure wrong_words.md 4 "the output differs from what the page shows (numbers may differ"
expect_failure wrong_status.md 4 "exit status 0, expected 1"
expect_failure missing_lines.md 4 "the output differs"
expect_failure unknown_word.md 3 "unknown word 'lnog' after \`\`\`console"
expect_failure sh_block.md 3 "a \`\`\`sh block"
expect_failure indented_command.md 5 "a command in an indented block is not run"
echo "docs harness: ok"

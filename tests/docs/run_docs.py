#!/usr/bin/env python3
"""Runs the shell commands shown in Markdown pages and checks what they print.

scripts/test-docs.sh runs it over README.md and docs/*.md in a fresh copy of the
repository; tests/e2e/docs_harness.sh tests it on the pages in tests/docs/fixtures/.

THE CONVENTION (for everyone who writes README.md or docs/*.md)

A fenced block whose info string starts with `console` holds commands and their output:

    ```console
    $ cnnc models/mnist.cnn --summary
    Model: "mnist_cam"
    ...
    $ cd out
    ```

- A line starting with `$ ` is a command, run by bash. A command whose line ends with `\\`
  continues on the next line. A `# comment` after a command is fine (bash ignores it).
- The lines after a command, up to the next `$ ` line or the end of the block, are what it
  must print (standard output and error together, as a terminal shows them). A command with
  no lines after it only has to succeed.
- In shown output, a line `...` stands for any number of lines (none too), and `...` inside
  a line for any text.
- A command must exit with status 0, unless its shown output ends with the line
  `[exit status N]`: then it must exit with status N.
- Words after `console` (GitHub shows none of them) change how the block is run:
    long         only with --long (scripts/test-docs.sh --long): full training runs,
                 benchmarks, package installs
    no-run       never: commands with a placeholder the reader replaces (`<URL>`), and the
                 test scripts themselves
    any-numbers  in the shown output every number (and a lone `.`, which tables print for
                 zero) stands for any number, and a run of spaces for any spacing: for
                 figures that depend on the machine (timings, and results of training, which
                 depend on the number of cores)
- Every other block (```text, ```sh, indented, ...) is never run: use ```text or an
  indented block for model files, synopses and output that no command on the page prints.
  A ```sh, ```bash or ```shell block is refused, and so is an indented block that starts
  like a command (`$ `, `./`, `../`, `scripts/`, `bench/`, `cnnc `, `cd `), so that no
  command is left untested by mistake: show commands as ```console with `$ `.

HOW THEY RUN

Pages run in the order given, commands in the order shown. Each page starts in the folder
given by --root, with this script's environment; `cd` and `export` carry over from one
command to the next within a page. Each command runs in its own bash (with `set -o pipefail`)
inside a pseudo-terminal, so that progress bars and messages look as on screen; carriage
returns are resolved (only the last redraw of a line counts), colours are removed and
trailing spaces ignored. The run stops at the first failure, which is reported as
`PAGE:LINE` with the command, its exit status and what it printed against what the page
shows. Pages without any `console` block are fine.
"""
import argparse
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time

FLAGS = {"long", "no-run", "any-numbers"}
REFUSED_LANGUAGES = {"sh", "bash", "shell", "zsh", "shell-session"}
ELLIPSIS = "..."
STATUS_LINE = re.compile(r"^\[exit status (\d+)\]$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)(.*)$")
# A number as programs print them: -3, 50,186, 0.0127519, 1e-3, .5; and a lone `.`, which
# tables print for zero.
NUMBER = (r"[-+]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?"
          r"|[-+]?\.\d+(?:[eE][-+]?\d+)?|(?<!\S)\.(?!\S)")
NUMBER_OR_SPACES = re.compile(NUMBER + r"|\s+")
# The start of an indented block that looks like a command (the old style of these pages).
INDENTED_COMMAND = re.compile(r"^ {4,}(\$ |\./|\.\./|scripts/|bench/|cnnc |cd )")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class DocError(Exception):
    """A page that breaks the convention."""


class Command:
    def __init__(self, page, line, text, block):
        self.page, self.line, self.text, self.block = page, line, text, block
        self.expected = []   # shown output lines, [] when nothing is shown

    def where(self):
        return f"{self.page}:{self.line}"


class Block:
    def __init__(self, page, line, flags):
        self.page, self.line, self.flags = page, line, flags
        self.commands = []


def parse_page(path, shown_name):
    """The console blocks of one Markdown page, in order."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            if (INDENTED_COMMAND.match(lines[i]) and i > 0 and not lines[i - 1].strip()):
                raise DocError(f"{shown_name}:{i + 1}: a command in an indented block is not "
                               "run: show commands as ```console with '$ ' prompts")
            i += 1
            continue
        indent, fence, language, rest = m.group(1), m.group(2), m.group(3), m.group(4)
        start = i
        body = []
        i += 1
        while i < len(lines):
            close = re.match(r"^\s*(`{3,}|~{3,})\s*$", lines[i])
            if close and close.group(1)[0] == fence[0] and len(close.group(1)) >= len(fence):
                break
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        if i == len(lines):
            raise DocError(f"{shown_name}:{start + 1}: this code block is never closed")
        i += 1
        if language.lower() in REFUSED_LANGUAGES:
            raise DocError(f"{shown_name}:{start + 1}: a ```{language} block: show commands as "
                           "```console with '$ ' prompts (they are then tested), or as ```text")
        if language != "console":
            continue
        words = rest.split()
        unknown = [w for w in words if w not in FLAGS]
        if unknown:
            raise DocError(f"{shown_name}:{start + 1}: unknown word '{unknown[0]}' after "
                           f"```console (known: {', '.join(sorted(FLAGS))})")
        blocks.append(parse_block(shown_name, start + 1, set(words), body))
    return blocks


def parse_block(page, fence_line, flags, body):
    block = Block(page, fence_line, flags)
    current = None
    j = 0
    while j < len(body):
        line, number = body[j], fence_line + 1 + j
        if line.startswith("$ ") or line == "$":
            text = line[2:]
            while text.endswith("\\") and j + 1 < len(body):
                j += 1
                text += "\n" + body[j]
            current = Command(page, number, text, block)
            block.commands.append(current)
        elif current is None:
            if line.strip():
                raise DocError(f"{page}:{number}: a console block must start with a '$ ' "
                               "command line")
        else:
            current.expected.append(line.rstrip())
        j += 1
    if not block.commands:
        raise DocError(f"{page}:{fence_line}: a console block without any '$ ' command")
    for c in block.commands:
        while c.expected and not c.expected[-1]:
            c.expected.pop()
    return block


# ---- comparing output -------------------------------------------------------------------

def line_pattern(line, any_numbers):
    """A regular expression for one shown line."""
    parts = []
    for k, piece in enumerate(line.split(ELLIPSIS)):
        if k:
            parts.append(".*")
        if not any_numbers:
            parts.append(re.escape(piece))
            continue
        pos = 0
        for m in NUMBER_OR_SPACES.finditer(piece):
            parts.append(re.escape(piece[pos:m.start()]))
            parts.append(r"\s+" if m.group().isspace() else "(?:" + NUMBER + ")")
            pos = m.end()
        parts.append(re.escape(piece[pos:]))
    return re.compile("".join(parts))


def output_matches(expected, actual, any_numbers):
    """Whole-output match: each shown line matches one printed line, `...` lines any run."""
    patterns = [None if e.strip() == ELLIPSIS else line_pattern(e, any_numbers)
                for e in expected]
    n, m = len(patterns), len(actual)
    # ok[i][j]: patterns[i:] match actual[j:]
    ok = [[False] * (m + 1) for _ in range(n + 1)]
    ok[n][m] = True
    for i in range(n - 1, -1, -1):
        p = patterns[i]
        for j in range(m, -1, -1):
            if p is None:
                ok[i][j] = ok[i + 1][j] or (j < m and ok[i][j + 1])
            else:
                ok[i][j] = j < m and bool(p.fullmatch(actual[j])) and ok[i + 1][j + 1]
    return ok[0][0]


def screen_lines(raw):
    """What a terminal would show: redraws resolved, colours removed, trailing spaces cut."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n")
    text = ANSI.sub("", text)
    lines = [line.split("\r")[-1].rstrip() for line in text.split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


# ---- running ----------------------------------------------------------------------------

def run_in_terminal(argv, cwd, env, timeout):
    """Runs argv with a pseudo-terminal as its output; returns (status, raw output, timed out)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, start_new_session=True)
    os.close(slave)
    chunks, timed_out = [], False
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([master], [], [], wait)
        if not ready:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            break
        try:
            data = os.read(master, 65536)
        except OSError:          # EIO: every writer has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    status = proc.wait()
    return status, b"".join(chunks), timed_out


class PageState:
    """Where the next command of a page runs, and with which environment."""

    def __init__(self, root, env):
        self.cwd, self.env = root, dict(env)


def run_command(cmd, state, scratch, timeout):
    env_file = os.path.join(scratch, "env")
    cwd_file = os.path.join(scratch, "cwd")
    script = (f"set -o pipefail\n{cmd.text}\n__docs_status=$?\n"
              f"pwd > '{cwd_file}'\nenv -0 > '{env_file}'\nexit $__docs_status\n")
    for f in (env_file, cwd_file):
        if os.path.exists(f):
            os.remove(f)
    if not os.path.isdir(state.cwd):
        return None, [f"(the folder {state.cwd} does not exist)"], False
    status, raw, timed_out = run_in_terminal(["bash", "-c", script], state.cwd, state.env,
                                             timeout)
    if os.path.exists(cwd_file):   # the command ran to its end: keep its cd and exports
        with open(cwd_file) as f:
            state.cwd = f.read().rstrip("\n")
        with open(env_file, "rb") as f:
            pairs = [p.split(b"=", 1) for p in f.read().split(b"\0") if b"=" in p]
        state.env = {k.decode(): v.decode() for k, v in pairs
                     if k not in (b"PWD", b"OLDPWD", b"SHLVL", b"_")}
    return status, screen_lines(raw), timed_out


def expected_status(cmd):
    if cmd.expected and STATUS_LINE.match(cmd.expected[-1]):
        return int(STATUS_LINE.match(cmd.expected[-1]).group(1)), cmd.expected[:-1]
    return 0, cmd.expected


def report_failure(cmd, why, expected, actual):
    out = [f"FAIL {cmd.where()}: {why}", "  command:"]
    out += ["    $ " + line for line in cmd.text.split("\n")]
    if expected:
        out.append("  the page shows:")
        out += ["    " + line for line in expected]
    out.append("  it printed:" if actual else "  it printed nothing")
    out += ["    " + line for line in actual[-60:]]
    if len(actual) > 60:
        out.insert(len(out) - 60, f"    ... ({len(actual) - 60} earlier lines left out)")
    print("\n".join(out), flush=True)


def check_command(cmd, state, scratch, timeout):
    want_status, shown = expected_status(cmd)
    start = time.monotonic()
    status, actual, timed_out = run_command(cmd, state, scratch, timeout)
    seconds = time.monotonic() - start
    any_numbers = "any-numbers" in cmd.block.flags
    if status is None:
        report_failure(cmd, "cannot run it", shown, actual)
        return False
    if timed_out:
        report_failure(cmd, f"still running after {timeout} s (stopped)", shown, actual)
        return False
    if status != want_status:
        why = (f"exit status {status}" if status >= 0 else f"killed by signal {-status}")
        report_failure(cmd, f"{why}, expected {want_status}", shown, actual)
        return False
    if shown and not output_matches(shown, actual, any_numbers):
        report_failure(cmd, "the output differs from what the page shows"
                       + (" (numbers may differ: any-numbers)" if any_numbers else ""),
                       shown, actual)
        return False
    first_line = cmd.text.split("\n")[0]
    print(f"ok   {cmd.where()}: $ {first_line}  ({seconds:.1f} s"
          + (", output checked)" if shown else ")"), flush=True)
    return True


def main():
    ap = argparse.ArgumentParser(description="Runs the commands shown in Markdown pages "
                                 "(the convention is at the top of this file).")
    ap.add_argument("pages", nargs="+", help="Markdown files, relative to --root or absolute")
    ap.add_argument("--root", default=".", help="the folder every page starts in")
    ap.add_argument("--long", action="store_true", help="also run the blocks marked long")
    ap.add_argument("--timeout", type=float, default=0,
                    help="seconds one command may take (default: no limit)")
    ap.add_argument("--list", action="store_true", help="only list the commands found")
    args = ap.parse_args()
    root = os.path.abspath(args.root)

    try:
        pages = [(p, parse_page(os.path.join(root, p), p)) for p in args.pages]
    except (DocError, OSError) as e:
        print(f"FAIL {e}", flush=True)
        return 1

    counts = {"run": 0, "long": 0, "no-run": 0}
    per_page = []
    with tempfile.TemporaryDirectory(prefix="run_docs.") as scratch:
        for name, blocks in pages:
            state = PageState(root, os.environ)
            ran = 0
            for block in blocks:
                skip = ("no-run" if "no-run" in block.flags else
                        "long" if "long" in block.flags and not args.long else None)
                for cmd in block.commands:
                    if args.list or skip:
                        label = skip or "run"
                        if args.list:
                            print(f"{label:6} {cmd.where()}: $ {cmd.text}")
                        counts[label] += 1
                        ran += label == "run"
                        continue
                    if not check_command(cmd, state, scratch, args.timeout):
                        return 1
                    counts["run"] += 1
                    ran += 1
            per_page.append(f"{name} {ran}")
    verb = "found" if args.list else "ran"
    print(f"docs: {verb} {counts['run']} commands ({', '.join(per_page)}); not run: "
          f"{counts['long']} in long blocks (run with --long), {counts['no-run']} in no-run "
          "blocks", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Where the time goes: per-kernel CPU time and achieved GFLOP/s of one compiled program,
from a perf profile of bench_cnnc (see bench/profile.sh, which makes the inputs).

    profile.py --model NAME --program infer|train_step|gradcam --lowered DUMP
               --disasm OBJDUMP --perf REPORT --bench JSONL [--peak PEAK.jsonl]
               [--title TEXT] [--markdown]

How a perf sample becomes a kernel's: every kernel of a lowered program is its own function
in the object file, NAME_kI_KIND (kernels.c; equal kernels share one body). The worker
NAME_PROGRAM_worker calls them in the program's order, the hoisted kernels ("once per
batch") first; the update program's kernels are called by the entry NAME_train_step itself.
So the calls in the disassembly, in address order, name the function of each kernel of
`cnnc --dump-ir=lowered` (checked: the function's KIND must be the kernel's).

FLOPs are the useful multiply-adds (2 per) of the convolution and dense kernels and their
gradients; the other kernels move memory and count none. CPU time is summed over the
threads, so GFLOP/s is per core and compares with one core's FMA peak. Functions outside
the generated code (memset and memcpy of the kernels' zero fills and padded copies, the
thread pool, the benchmark's own set-up) are listed by name.
"""

import argparse
import json
import re
import sys

KERNEL_LINE = re.compile(r"^  k(\d+)\s+(.*)$")
GEOMETRY = re.compile(r"(\d+)x(\d+)x(\d+) -> (\d+)x(\d+)x(\d+) window (\d+)x(\d+)")
BUFFER = re.compile(r"@\d+\[(\d+)\]")
CALL = re.compile(r"\scall\s+[0-9a-f]+ <([A-Za-z0-9_]+)>")
PERF_LINE = re.compile(r"^\s*(\d+)\s+\[(.)\]\s+(.+?)\s*$")


def read_lowered(path, section):
    """The kernels of one section of `cnnc --dump-ir=lowered`: dicts with index, text,
    kind, hoisted, in_sizes."""
    kernels, inside = [], False
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("; "):
                inside = line[2:].strip() == section
                continue
            if not inside:
                continue
            m = KERNEL_LINE.match(line)
            if m:
                text = m.group(2).strip()
                kind = re.split(r"[+ ]", text, maxsplit=1)[0]
                kernels.append({"index": int(m.group(1)), "text": text, "kind": kind,
                                "hoisted": "(once per batch)" in text, "in_sizes": []})
            elif line.strip().startswith("in:") and kernels:
                kernels[-1]["in_sizes"] = [int(s) for s in BUFFER.findall(line)]
    return kernels


def flops(kernel):
    """Useful floating-point operations of one run of the kernel (per image)."""
    kind, text = kernel["kind"], kernel["text"]
    if kind in ("conv2d", "conv2d_grad_input", "conv2d_grad_kernel"):
        m = GEOMETRY.search(text)
        if not m:
            return 0
        ih, iw, ic, oh, ow, oc, kh, kw = (int(v) for v in m.groups())
        return 2 * oh * ow * oc * kh * kw * ic
    if kind in ("dense", "dense_grad_input"):
        sizes = kernel["in_sizes"]
        return 2 * sizes[1] if len(sizes) > 1 else 0   # in[1] is the kernel [IN, OUT]
    if kind == "dense_grad_kernel":
        m = re.search(r"n=(\d+)", text)
        return 2 * int(m.group(1)) if m else 0
    return 0


def read_calls(path, function):
    """The generated kernel functions `function` calls, in address order."""
    calls, inside = [], False
    header = "<{}>:".format(function)
    with open(path) as f:
        for line in f:
            if line.rstrip().endswith(">:"):
                inside = line.rstrip().endswith(header)
                continue
            if inside:
                m = CALL.search(line)
                if m and re.match(r".*_k\d+_", m.group(1)):
                    calls.append(m.group(1))
    return calls


def map_kernels(kernels, calls, model):
    """Sets each kernel's "function" from the calls (hoisted kernels are called first). A
    kernel the optimiser removed (a Grad-CAM kernel whose output no call can ask for) has
    no call: it is skipped when the next call is of another kind."""
    ordered = [k for k in kernels if k["hoisted"]] + [k for k in kernels if not k["hoisted"]]
    at = 0
    for k in ordered:
        fn = calls[at] if at < len(calls) else ""
        if fn.startswith(model + "_k") and fn.endswith("_" + k["kind"]):
            k["function"] = fn
            at += 1
        else:
            k["function"] = None
    if at != len(calls):
        sys.exit("profile.py: the call {} matches no kernel of the dump".format(calls[at]))


def program_kernels(lowered, disasm, model, program):
    """The kernels of a program with their functions. A Grad-CAM worker branches on the
    target and method, and the optimiser lays those branches out in its own order, so its
    calls do not follow the kernel list: its functions are named by what the inference and
    training programs (whose workers run straight through) call them for."""
    if program == "gradcam":
        known = {}
        for other in ("infer", "train_step"):
            for k in program_kernels(lowered, disasm, model, other):
                if k["function"] and not k["hoisted"]:
                    known.setdefault(k["function"], k)
        called = read_calls(disasm, model + "_gradcam_worker")
        kernels = []
        for fn in dict.fromkeys(called):
            k = dict(known.get(fn) or {"text": "(a Grad-CAM kernel)", "kind": "",
                                        "in_sizes": []})
            k.update(function=fn, hoisted=False)
            k.pop("index", None)   # its index is in another program
            if fn not in known:
                k["text"] = "Grad-CAM " + fn.split("_k", 1)[1].split("_", 1)[1]
            kernels.append(k)
        return kernels
    section = model + "_" + program
    kernels = read_lowered(lowered, section)
    if not kernels:
        sys.exit("profile.py: no section '; {}' in {}".format(section, lowered))
    map_kernels(kernels, read_calls(disasm, section + "_worker"), model)
    if program == "train_step":
        update = read_lowered(lowered, section + " (update)")
        map_kernels(update, read_calls(disasm, section), model)
        for k in update:
            k["text"] = "update " + k["text"]
        kernels += update
    return kernels


def read_perf(path):
    """{symbol: CPU nanoseconds} from `perf report --sort sym -F period,sym`."""
    times = {}
    with open(path) as f:
        for line in f:
            m = PERF_LINE.match(line)
            if m:
                symbol = m.group(3) + (" (kernel)" if m.group(2) == "k" else "")
                times[symbol] = times.get(symbol, 0) + int(m.group(1))
    return times


def read_images(path):
    """Images run (warm-up included) by the one benchmark of the JSON lines file."""
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                r = json.loads(line)
                if "images_total" in r:
                    return r["images_total"], r
    sys.exit("profile.py: no benchmark result with images_total in " + path)


def read_peak(path):
    """One core's best fp32 FMA GFLOP/s (widest vectors) from bench/fma_peak, or None."""
    best = None
    if path:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    r = json.loads(line)
                    if r.get("threads") == 1:
                        best = max(best or 0.0, r["gflops"])
    return best


def build_rows(kernels, times, images, peak):
    """Table rows: one per kernel function (in program order), then the other symbols."""
    by_function = {}
    for k in kernels:
        if not k["function"]:
            continue
        entry = by_function.setdefault(k["function"], {"kernels": [], "flops": 0})
        entry["kernels"].append(k)
        if not k["hoisted"]:
            entry["flops"] += flops(k)
    total_ns = sum(times.values())
    rows, kernel_ns, total_flops = [], 0, 0
    for fn, entry in by_function.items():
        ns = times.pop(fn, 0)
        if not ns:
            continue   # never ran (a Grad-CAM kernel of another target or method)
        kernel_ns += ns
        total_flops += entry["flops"]
        what = "; ".join(("k{} ".format(k["index"]) if "index" in k else "") + k["text"]
                         for k in entry["kernels"])
        if len(what) > 80:
            what = what[:77] + "..."   # an optimizer's update has a long chain
        rows.append(row(fn, what, ns, total_ns, entry["flops"], images, peak))
    others = sorted(times.items(), key=lambda kv: -kv[1])
    shown = [(s, ns) for s, ns in others if ns >= 0.005 * total_ns]
    for symbol, ns in shown:
        rows.append(row(symbol, "outside the generated kernels", ns, total_ns, 0, images, peak))
    rest = sum(ns for s, ns in others) - sum(ns for s, ns in shown)
    if rest:
        rows.append(row("(others below 0.5%)", "", rest, total_ns, 0, images, peak))
    totals = [row("all generated kernels", "", kernel_ns, total_ns, total_flops, images, peak),
              row("whole process", "", total_ns, total_ns, total_flops, images, peak)]
    return rows, totals


def row(name, what, ns, total_ns, flop_per_image, images, peak):
    us = ns / 1e3 / images
    gflops = flop_per_image * images / ns if ns and flop_per_image else None
    return [name, what,
            "{:.1f}%".format(100.0 * ns / total_ns) if total_ns else "",
            "{:.2f}".format(us),
            "{:.3f}".format(flop_per_image / 1e6) if flop_per_image else "",
            "{:.1f}".format(gflops) if gflops else "",
            "{:.0f}%".format(100.0 * gflops / peak) if gflops and peak else ""]


HEADER = ["function", "kernels (cnnc --dump-ir=lowered)", "CPU time", "us/image (CPU)",
          "MFLOP/image", "GFLOP/s per core", "% of one core's peak"]


def print_table(title, rows, totals, markdown):
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|---|---|" + "---:|" * (len(HEADER) - 2))
        for r in rows + totals:
            print("| " + " | ".join(c.replace("|", "/") for c in r) + " |")
        return
    print(title)
    widths = [max(len(r[i]) for r in [HEADER] + rows + totals) for i in range(len(HEADER))]
    widths[1] = min(widths[1], 60)
    for r in [HEADER] + rows + totals:
        cells = [r[0].ljust(widths[0]), r[1][:60].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:])]
        print("  ".join(cells))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--program", required=True)
    ap.add_argument("--lowered", required=True)
    ap.add_argument("--disasm", required=True)
    ap.add_argument("--perf", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--peak")
    ap.add_argument("--title", default="")
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    kernels = program_kernels(a.lowered, a.disasm, a.model, a.program)
    images, result = read_images(a.bench)
    rows, totals = build_rows(kernels, read_perf(a.perf), images, read_peak(a.peak))
    title = a.title or "{} batch {}: {:,.0f} images/s while profiled, {:,} images".format(
        a.program, result["batch"], result["median"], images)
    print_table(title, rows, totals, a.markdown)


if __name__ == "__main__":
    main()

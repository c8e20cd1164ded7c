#!/usr/bin/python3
"""Reads the JSON lines that bench_cnnc and pytorch_mnist.py printed (any number of rounds)
and prints one side-by-side table: medians over all repetitions of each framework, the ratio
cnnc/PyTorch, the target of the issue, the hardware limit from shared/DESIGN.md and, given
bench/fma_peak's output, the limit of this machine.

    table.py [--markdown] [--peaks-from PEAK.jsonl]... RESULTS.jsonl...
    table.py --check CHECK.jsonl      the equivalence check, with a verdict
    table.py --peak LABEL PEAK.jsonl  bench/fma_peak's measurement of the machine
"""

import argparse
import json
import os
import statistics
import sys

# The hardware limits of DESIGN.md ("Performance: what the hardware allows"), measured on
# the project's 2-core AVX2+FMA (Zen 3) machines: ~91 GFLOP/s of fp32 FMA on one core, ~180
# on both; the tutorial's CNN costs 7.74 MFLOP per image forward and 22.8 MFLOP per image
# for a training step. A batch of one runs on all the threads too (cnnc splits one image's
# convolutions over them; issue 12); Grad-CAM to max_pooling2d_1 costs about one forward pass (the backward
# through the dense head is tiny), DESIGN's "about 0.09 ms on one core".
GFLOPS_ONE_CORE, GFLOPS_TWO_CORES = 91e9, 180e9
FORWARD_FLOP, TRAIN_FLOP = 7.74e6, 22.8e6

# (bench, batch, label, MFLOP per image, target ratio from the issues or None)
ROWS = [
    ("infer", 256, "inference, batch 256", FORWARD_FLOP, 2.0),
    ("infer", 1, "inference, batch 1", FORWARD_FLOP, None),
    ("train", 64, "training step, batch 64 (Adam)", TRAIN_FLOP, 1.5),
    ("gradcam", 1, "Grad-CAM, batch 1", FORWARD_FLOP, 10.0),
    ("gradcam", 256, "Grad-CAM, batch 256", FORWARD_FLOP, None),
]


def hardware_limit(flop_per_image, batch, threads):
    """images/s DESIGN.md's machine allows: its 2 cores at most, one per thread (a single
    image too: its work is split over the threads)."""
    cores = min(threads, 2)
    return (GFLOPS_ONE_CORE if cores == 1 else GFLOPS_TWO_CORES) / flop_per_image


FRAMEWORKS = ("cnnc", "pytorch", "onnxruntime")
# run.sh with BENCH_BASE_BUILD: cnnc of another build (before a change), timed in the same
# rounds; the table then gains its medians and the ratio cnnc / that build.
BASE = "cnnc_base"


def collect(paths):
    """{(framework, bench, batch): [images/s of every repetition]}, plus config lines."""
    rates, configs = {}, []
    for path in paths:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                record = json.loads(line)
                if record.get("info") == "config":
                    configs.append(record)
                elif "bench" in record:
                    key = (record["framework"], record["bench"], record["batch"])
                    rates.setdefault(key, []).extend(record["reps"])
    return rates, configs


def fmt_rate(values):
    """The median, and the range of the repetitions so a reader sees how noisy the shared
    machine was: "8,108 (8,010-8,305)"."""
    if not values:
        return "n/a"
    text = "{:,.0f}".format(statistics.median(values))
    if len(values) > 1:
        text += " ({:,.0f}-{:,.0f})".format(min(values), max(values))
    return text


def verdict(ratio, target):
    return "met" if ratio >= target else "NOT met"


def read_peaks(paths):
    """{(vector_bits, threads): best GFLOP/s} over bench/fma_peak's output files."""
    peaks = {}
    for path in paths or []:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    r = json.loads(line)
                    key = (r["vector_bits"], r["threads"])
                    peaks[key] = max(peaks.get(key, 0.0), r["gflops"])
    return peaks


def measured_limit(flop_per_image, batch, threads, peaks):
    """images/s this machine allows by its measured one-thread FMA peak on its widest
    vectors, times the cores a run can use (as hardware_limit), or None if not measured."""
    one_core = max((g for (bits, t), g in peaks.items() if t == 1), default=None)
    if one_core is None:
        return None
    cores = min(threads, os.cpu_count() or 1)
    return cores * one_core * 1e9 / flop_per_image


def ratio_text(ours, theirs):
    """The ratio of the medians, "2.41x", or "" when either side was not measured."""
    if not ours or not theirs:
        return ""
    return "{:.2f}x".format(statistics.median(ours) / statistics.median(theirs))


def build_rows(rates, threads, peaks):
    """Ratios of the medians (the figure the targets are about) against each peer that ran,
    the target against PyTorch (issues 4-6), and cnnc's median as a share of the limits:
    DESIGN.md's machine and this machine's measured FMA peak."""
    rows = []
    for bench, batch, label, flop, target in ROWS:
        limit = hardware_limit(flop, batch, threads)
        here = measured_limit(flop, batch, threads, peaks)
        ours = rates.get(("cnnc", bench, batch), [])
        torch_rates = rates.get(("pytorch", bench, batch), [])
        ort_rates = rates.get(("onnxruntime", bench, batch), [])
        target_text = "{:g}x".format(target) if target else ""
        if ours and torch_rates and target:
            r_median = statistics.median(ours) / statistics.median(torch_rates)
            r_best = max(ours) / max(torch_rates)
            target_text += ": {} (bests: {})".format(verdict(r_median, target),
                                                     verdict(r_best, target))
        share = ""
        if ours and here:
            share = "{:.0f}%".format(100 * statistics.median(ours) / here)
        rows.append([label, fmt_rate(ours), fmt_rate(torch_rates), fmt_rate(ort_rates),
                     ratio_text(ours, torch_rates), ratio_text(ours, ort_rates), target_text,
                     "{:,.0f}".format(limit), "{:,.0f}".format(here) if here else "n/a",
                     share, str(max(len(ours), len(torch_rates), len(ort_rates)))])
    return rows


HEADER = ["images/s", "cnnc median (min-max)", "PyTorch median (min-max)",
          "ONNX Runtime median (min-max)", "cnnc/PyTorch", "cnnc/ONNX Runtime",
          "target (vs PyTorch)", "limit (DESIGN.md)", "limit here (measured peak)",
          "cnnc % of peak here", "reps"]


# Issue 12's targets: (label, kind, numerator, denominator, target). kind "ratio": the
# median images/s of numerator over denominator, each (framework, bench, batch); "peak":
# the numerator's median as a share of this machine's measured FMA peak on the threads.
TARGETS = [
    ("inference b256: cnnc / ONNX Runtime", "ratio",
     ("cnnc", "infer", 256), ("onnxruntime", "infer", 256), 1.3),
    ("inference b256: share of the FMA peak", "peak", ("cnnc", "infer", 256), FORWARD_FLOP,
     0.75),
    ("inference b1: cnnc / ONNX Runtime b1", "ratio",
     ("cnnc", "infer", 1), ("onnxruntime", "infer", 1), 1.5),
    ("training b64 Adam: share of the FMA peak", "peak", ("cnnc", "train", 64), TRAIN_FLOP,
     0.70),
    ("training b64 Adam: cnnc / PyTorch", "ratio",
     ("cnnc", "train", 64), ("pytorch", "train", 64), 3.0),
    ("Grad-CAM b1 / cnnc inference b1", "ratio",
     ("cnnc", "gradcam", 1), ("cnnc", "infer", 1), 0.9),
    ("Grad-CAM b1 / ONNX Runtime inference b1", "ratio",
     ("cnnc", "gradcam", 1), ("onnxruntime", "infer", 1), 1.5),
]


def print_targets(rates, threads, peaks):
    """Issue 12's targets, one line each: the figure, the target and the verdict."""
    print("Targets (issue 12), medians of this run, %d threads:" % threads)
    for label, kind, num, den, target in TARGETS:
        ours = rates.get(num, [])
        if kind == "ratio":
            theirs = rates.get(den, [])
            value = statistics.median(ours) / statistics.median(theirs) \
                if ours and theirs else None
            text = "%.2fx" % value if value is not None else "n/a"
            target_text = ">= %gx" % target
        else:
            here = measured_limit(den, num[2], threads, peaks)
            value = statistics.median(ours) / here if ours and here else None
            text = "%.0f%%" % (100 * value) if value is not None else "n/a"
            target_text = ">= %.0f%%" % (100 * target)
        verdict_text = verdict(value, target) if value is not None else "not measured"
        print("  %-45s %8s   target %-7s %s" % (label, text, target_text, verdict_text))


def add_base_columns(rows, rates):
    """The columns of the earlier build, when run.sh timed one (BENCH_BASE_BUILD)."""
    if not any(k[0] == BASE for k in rates):
        return HEADER
    for row, (bench, batch, _, _, _) in zip(rows, ROWS):
        base = rates.get((BASE, bench, batch), [])
        row.insert(4, fmt_rate(base))
        row.insert(5, ratio_text(rates.get(("cnnc", bench, batch), []), base))
    return HEADER[:4] + ["cnnc before (BENCH_BASE_BUILD)", "cnnc/before"] + HEADER[4:]


def print_plain(rows, header=HEADER):
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for i, row in enumerate([header] + rows):
        print("  ".join(cell.ljust(w) if j == 0 else cell.rjust(w)
                        for j, (cell, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def print_markdown(rows, header=HEADER):
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


# How close the two frameworks must be to count as computing the same thing (float32,
# different summation orders): probabilities, normalised maps in [0,1], losses, and the
# gradients (Adam's m and v after one step), each relative to its tensor's largest value.
# The gradients get a looser bound: max pooling sends a gradient to the largest of four
# values, and where two of them differ by a few ulps, a different summation order (LLVM
# reassociates, PyTorch does not) can pick the other one -- measured: one such window in
# 64 random images moves a kernel gradient by 1e-3 of its largest value. A real mistake
# (a wrong layout, a missing term) shows as differences of order 1.
CHECK_TOLERANCES = [
    ("infer_max_abs_diff_probs", "inference: max |probability difference|", 1e-4),
    ("gradcam_max_abs_diff_maps", "Grad-CAM: max |map difference| (maps in [0,1])", 1e-3),
    ("gradcam_max_abs_diff_probs", "Grad-CAM: max |probability difference|", 1e-4),
    ("train_max_abs_diff_losses", "training: max |loss difference| over the steps", 1e-4),
    ("train_max_rel_diff_adam_m", "training: gradients (Adam m, step 1), max rel. diff", 1e-2),
    ("train_max_rel_diff_adam_v", "training: squared gradients (Adam v), max rel. diff", 1e-2),
    ("ort_infer_max_abs_diff_probs", "ONNX Runtime: max |probability difference|", 1e-5),
]
# Shown without a verdict: Adam's step is about +-lr for any gradient size, so a parameter
# whose gradient is almost zero can move differently by up to lr on rounding alone.
CHECK_INFO = [
    ("train_max_abs_diff_params_step1", "training: max |weight difference| after step 1 (info)"),
]


def print_check(path):
    """The equivalence checks (pytorch_mnist.py check, ort_mnist.js check) as sentences
    with a verdict."""
    with open(path) as f:
        records = [json.loads(line) for line in f if line.startswith("{")]
    if not records:
        print("equivalence check: no result in %s" % path)
        return 1
    result = {}
    for record in records:   # PyTorch's check, then ONNX Runtime's: different keys
        result.update(record)
    print("Same weights, same %d input images, both frameworks:" % result.get("n", 0))
    failures = 0
    for key, label, tolerance in CHECK_TOLERANCES:
        if key not in result:
            print("  %-55s not measured" % label)
            continue
        ok = result[key] <= tolerance
        failures += not ok
        print("  %-55s %.2e  (%s %.0e)" % (label, result[key], "<=" if ok else "ABOVE", tolerance))
    for key, label in CHECK_INFO:
        if key in result:
            print("  %-55s %.2e" % (label, result[key]))
    if "infer_same_argmax" in result:
        print("  %-55s %d of %d" % ("inference: same predicted class", result["infer_same_argmax"],
                                    result["n"]))
    print("  verdict: %s" % ("same computation" if failures == 0 else
                             "DIFFERENT computations -- the speeds are not comparable"))
    return 1 if failures else 0


def print_peak(label, path):
    """One line from bench/fma_peak's output: this machine's fp32 FMA peak right now. The
    2-thread figure over the 1-thread one says how much of the second core the other users
    of a shared machine left free (2.0 = all of it)."""
    with open(path) as f:
        peaks = {(r["vector_bits"], r["threads"]): r["gflops"]
                 for r in (json.loads(line) for line in f if line.startswith("{"))}
    parts = []
    for bits in (256, 512):
        if (bits, 1) in peaks:
            part = "%d-bit: %.0f GFLOP/s on 1 thread" % (bits, peaks[(bits, 1)])
            if (bits, 2) in peaks:
                part += ", %.0f on 2 (%.1f cores' worth)" % (
                    peaks[(bits, 2)], peaks[(bits, 2)] / peaks[(bits, 1)])
            parts.append(part)
    print("fp32 FMA peak %s: %s" % (label, "; ".join(parts) if parts else "not measured"))
    return 0


def main():
    parser = argparse.ArgumentParser(description="side-by-side benchmark table")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--check", help="print the equivalence check of this file instead")
    parser.add_argument("--peak", nargs=2, metavar=("LABEL", "FILE"),
                        help="print fma_peak's measurement in FILE instead")
    parser.add_argument("--peaks-from", action="append", metavar="FILE",
                        help="fma_peak output for the 'limit here' column (repeatable)")
    parser.add_argument("--targets", action="store_true",
                        help="print issue 12's targets instead of the table")
    parser.add_argument("results", nargs="*")
    args = parser.parse_args()
    if args.check:
        return print_check(args.check)
    if args.peak:
        return print_peak(*args.peak)
    rates, configs = collect(args.results)
    if not rates:
        print("table.py: no benchmark results in %s" % ", ".join(args.results), file=sys.stderr)
        return 1
    threads = max((c.get("threads", 2) for c in configs), default=2)
    if args.targets:
        print_targets(rates, threads, read_peaks(args.peaks_from))
        return 0
    rows = build_rows(rates, threads, read_peaks(args.peaks_from))
    header = add_base_columns(rows, rates)
    (print_markdown if args.markdown else print_plain)(rows, header)
    return 0


if __name__ == "__main__":
    sys.exit(main())

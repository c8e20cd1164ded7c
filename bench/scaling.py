#!/usr/bin/python3
"""The table and charts of bench/scaling.sh.

    scaling.py --flops FLOPS.txt --charts DIR --chart-tool TOOL RESULTS.txt

RESULTS.txt: lines "MODEL THREADS JSON" (bench_cnnc's and ort_mnist.js's JSON lines);
FLOPS.txt: lines "MODEL FLOP_PER_IMAGE" (cnnc --summary's forward FLOPs). Prints a Markdown
table of median images/s and GFLOP/s per (framework, model, threads) and batch size, and
draws two charts with TOOL (bench/chart_tool.c): scaling_batch.png (models/mnist.cnn,
images/s, cnnc and ONNX Runtime) and scaling_models.png (cnnc's GFLOP/s for each model:
throughput per FLOP as the model grows).
"""

import argparse
import json
import math
import statistics
import subprocess

NAMES = {"cnnc": "cnnc", "onnxruntime": "ONNX Runtime"}


def read(path):
    """{(framework, model, threads, batch): [images/s]}"""
    rates = {}
    with open(path) as f:
        for line in f:
            model, threads, text = line.split(" ", 2)
            r = json.loads(text)
            key = (r["framework"], model, int(threads), int(r["batch"]))
            rates.setdefault(key, []).extend(r["reps"])
    return rates


def chart(tool, path, title, x_label, y_label, series):
    text = ""
    for label, dashed, points in series:
        text += ("dashed " if dashed else "series ") + label + "\n"
        text += "".join("{} {}\n".format(x, y) for x, y in points)
    subprocess.run([tool, path, title, x_label, y_label], input=text.encode(), check=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--flops", required=True)
    ap.add_argument("--charts", required=True)
    ap.add_argument("--chart-tool", required=True)
    ap.add_argument("results")
    a = ap.parse_args()
    flops = {}
    with open(a.flops) as f:
        for line in f:
            model, n = line.split()
            flops[model] = int(n)
    rates = read(a.results)
    batches = sorted({k[3] for k in rates})
    configs = sorted({k[:3] for k in rates}, key=lambda c: (c[0], flops.get(c[1], 0), c[2]))
    median = {k: statistics.median(v) for k, v in rates.items()}

    print("| framework | model (MFLOP/image) | threads | " +
          " | ".join("batch {}".format(b) for b in batches) + " |")
    print("|---|---|---:|" + "---:|" * len(batches))
    for fw, model, threads in configs:
        cells = []
        for b in batches:
            m = median.get((fw, model, threads, b))
            cells.append("{:,.0f} ({:.0f})".format(m, m * flops[model] / 1e9) if m else "")
        print("| {} | {} ({:.1f}) | {} | {} |".format(NAMES.get(fw, fw), model,
                                                     flops[model] / 1e6, threads,
                                                     " | ".join(cells)))
    print()
    print("Each cell: images/s (GFLOP/s), the median of the rounds.")

    def points(fw, model, threads, per_flop):
        out = []
        for b in batches:
            m = median.get((fw, model, threads, b))
            if m:
                out.append((math.log2(b), m * flops[model] / 1e9 if per_flop else m))
        return out

    series = []
    for fw in ("cnnc", "onnxruntime"):
        for threads in (1, 2):
            p = points(fw, "mnist", threads, False)
            if p:
                series.append(("{}, {} thread{}".format(NAMES[fw], threads,
                                                        "s" if threads > 1 else ""),
                               fw != "cnnc", p))
    chart(a.chart_tool, a.charts + "/scaling_batch.png",
          "mnist.cnn inference: images/s by batch",
          "log2(batch size)", "images/s", series)
    series = []
    for threads in (2, 1):
        for model in sorted(flops, key=flops.get):
            p = points("cnnc", model, threads, True)
            if p:
                series.append(("{} ({:.1f} MFLOP), {} thread{}".format(
                    model, flops[model] / 1e6, threads, "s" if threads > 1 else ""),
                    threads == 1, p))
    chart(a.chart_tool, a.charts + "/scaling_models.png",
          "cnnc inference: GFLOP/s by batch and model",
          "log2(batch size)", "GFLOP/s", series)


if __name__ == "__main__":
    main()

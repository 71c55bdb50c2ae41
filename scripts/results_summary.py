"""Tables, JSON and the budget plot of the runs of scripts/reproduce_results.sh.

Usage: python scripts/results_summary.py RUNS_DIR [--json OUT.json] [--plot OUT.png]

Each cell is the mean and sample standard deviation, in top-1 points on supervised/val, over
the seeds (label draws) found; the count is shown when it is not 3.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

RUN = re.compile(r"(?:recipe-)?(?P<probe>(?:bf16-)?(?:linprobe|knn|finetune)(?:_[a-z0-9]+)?|"
                 r"semi(?:_long)?-(?:plain|joint|pseudo|joint_pseudo))-(?P<init>.+)"
                 r"-(?P<labels>20|all)-s(?P<seed>\d+)")
RECIPES = {"linprobe": "conv3, 9216 values (default)", "linprobe_pool2": "conv3, 2x2 pooled",
           "linprobe_gap": "conv3, global average", "linprobe_conv2": "conv2",
           "linprobe_conv4": "conv4", "linprobe_multi": "conv2+conv3+conv4, 9216 values",
           "linprobe_multigap": "conv2+conv3+conv4, global average",
           "finetune": "fine-tune conv3, lr 3e-4", "finetune_logits": "fine-tune 12x12 outputs "
           "(original system), lr 1e-3"}
ABLATION = ("random", "split_brain", "split_brain_regression", "colorization", "lightness")
PAPER_CONV3 = {"random": 16.9, "split_brain": 35.4, "split_brain_regression": 33.6,
               "colorization": 31.0}  # Zhang et al. 2017, ImageNet linear classification, conv3
COLUMNS = [("linprobe", "20"), ("linprobe", "all"), ("knn", "20"), ("knn", "all")]
SEMI = {"plain": "plain", "joint": "joint (pretext loss, weight 1)",
        "pseudo": "pseudo-labels (threshold 0.95)", "joint_pseudo": "joint and pseudo-labels"}
SCHEDULES = {"semi": "60 epochs", "semi_long": "300 epochs"}


def collect(runs: Path) -> dict:
    """{(probe, init, labels): {"top1": [...], "ece": [...], ...}} of the finished runs."""
    cells: dict = {}
    for folder in sorted(p for p in runs.iterdir() if p.is_dir()):
        match = RUN.fullmatch(folder.name)
        if not match:
            continue
        probe, init, labels = match["probe"], match["init"], match["labels"]
        if probe.startswith("knn") and (folder / "report.json").exists():
            scores = {"top1": json.loads((folder / "report.json").read_text())["top1"]}
        elif (folder / "summary.json").exists():
            summary = json.loads((folder / "summary.json").read_text())
            scores = {"top1": summary["val_top1"], "holdout_top1": summary["holdout_top1"],
                      "ece": summary.get("val_ece"),
                      "ece_uncalibrated": summary.get("val_ece_uncalibrated"),
                      "epochs": summary["epochs"]}
        else:
            continue
        cell = cells.setdefault((probe, init, labels), {"seeds": []})
        cell["seeds"].append(int(match["seed"]))
        for key, value in scores.items():
            cell.setdefault(key, []).append(value)
    return cells


def stats(values: list[float]) -> dict:
    points = np.array(values, float) * 100
    return {"mean": round(float(points.mean()), 1),
            "std": round(float(points.std(ddof=1)), 1) if len(points) > 1 else None,
            "n": len(points)}


def show(cell: dict | None, key: str = "top1") -> str:
    if not cell or not cell.get(key) or None in cell[key]:
        return "not measured yet"
    s = stats(cell[key])
    spread = f" ± {s['std']}" if s["std"] is not None else ""
    count = f" (n={s['n']})" if s["n"] != 3 else ""
    return f"{s['mean']}{spread}{count}"


def table(cells: dict, inits: list[str], columns=COLUMNS, paper: bool = False) -> str:
    head = ["init"] + [f"{probe} {labels}" for probe, labels in columns]
    head += ["paper conv3 (ImageNet)"] if paper else []
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for init in inits:
        row = [init] + [show(cells.get((probe, init, labels))) for probe, labels in columns]
        row += [str(PAPER_CONV3.get(init, "-"))] if paper else []
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def difference(ours: dict | None, base: dict | None) -> str:
    """Mean difference of two cells' top-1, with the spread of the difference."""
    if not ours or not base:
        return "not measured yet"
    a, b = stats(ours["top1"]), stats(base["top1"])
    spread = np.hypot(a["std"] or 0, b["std"] or 0)
    return f"{a['mean'] - b['mean']:+.1f} (± {spread:.1f})"


def gains(cells: dict, inits: list[str], columns=COLUMNS) -> str:
    """Mean differences to random init, with the spread of the difference."""
    lines = ["| pretrained minus random | " + " | ".join(f"{p} {n}" for p, n in columns) + " |",
             "|" + " --- |" * (len(columns) + 1)]
    for init in inits:
        row = []
        for probe, labels in columns:
            row.append(difference(cells.get((probe, init, labels)),
                                  cells.get((probe, "random", labels))))
        lines.append(f"| {init} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def recipes(cells: dict) -> str:
    """Each variant: held-out (selection) and val top-1 of split_brain, val of random, gain."""
    lines = ["| variant | labels / class | held-out, pretrained | val, pretrained | val, random "
             "| gain |", "|" + " --- |" * 6]
    for probe, text in RECIPES.items():
        for labels in ("20", "all"):
            ours = cells.get((probe, "split_brain", labels))
            if not ours:
                continue
            base = cells.get((probe, "random", labels))
            gain = (f"{stats(ours['top1'])['mean'] - stats(base['top1'])['mean']:+.1f}"
                    if base else "-")
            lines.append(f"| {text} | {labels} | {show(ours, 'holdout_top1')} | {show(ours)} | "
                         f"{show(base)} | {gain} |")
    return "\n".join(lines)


def per_draw(ours: dict | None, base: dict | None) -> str:
    """``ours`` minus ``base`` in top-1 points for each seed both have (paired: same labels,
    and the same seed for everything else)."""
    if not ours or not base:
        return "-"
    top1 = [dict(zip(c["seeds"], c["top1"], strict=True)) for c in (ours, base)]
    return ", ".join(f"{(top1[0][seed] - top1[1][seed]) * 100:+.1f}"
                     for seed in sorted(set(top1[0]) & set(top1[1])))


def semi_table(cells: dict, labels: str) -> str:
    """Fine-tuning with the unlabelled photos (scripts/reproduce_results.sh semi, semi_long):
    each method from the 40-epoch pair and from random weights, the difference per draw, and
    the held-out top-1 (the selection split) of both."""
    lines = ["| schedule | method | split_brain, 40 epochs | random | pretrained minus random, "
             "per draw | held-out, pretrained / random |", "|" + " --- |" * 6]
    for schedule, length in SCHEDULES.items():
        for method, text in SEMI.items():
            ours = cells.get((f"{schedule}-{method}", "split_brain-e040", labels))
            base = cells.get((f"{schedule}-{method}", "random", labels))
            if not ours and not base:
                continue
            lines.append(f"| {length} | {text} | {show(ours)} | {show(base)} | "
                         f"{per_draw(ours, base)} | {show(ours, 'holdout_top1')} / "
                         f"{show(base, 'holdout_top1')} |")
    return "\n".join(lines)


def precision_table(cells: dict) -> str:
    """finetune from the 40-epoch pair in float32 and in bfloat16 (reproduce_results.sh
    finetune, precision), and the difference per draw."""
    lines = ["| labels / class | float32 | bfloat16 | bfloat16 minus float32, per draw |",
             "|" + " --- |" * 4]
    for labels in ("20", "all"):
        fp32, bf16 = (cells.get((probe, "split_brain-e040", labels))
                      for probe in ("finetune", "bf16-finetune"))
        if bf16:
            lines.append(f"| {labels} | {show(fp32)} | {show(bf16)} | {per_draw(bf16, fp32)} |")
    return "\n".join(lines)


def budget_plot(cells: dict, path: Path) -> None:
    """Top-1 against pretraining epochs (0 = random init), one line per probe and label
    count, error bars of one standard deviation."""
    series = {}
    for probe, labels in COLUMNS:
        points = []
        snapshots = [(e, f"split_brain-e{e:03d}") for e in (5, 10, 20, 40)]
        for epochs, init in [(0, "random"), *snapshots]:
            cell = cells.get((probe, init, labels))
            if cell:
                s = stats(cell["top1"])
                points.append((epochs, s["mean"], s["std"] or 0.0))
        if len(points) > 1:
            series[f"{probe} {labels}"] = points
    if not series:
        return
    width, height, left, right, top, bottom = 720, 420, 60, 190, 30, 50
    image = Image.new("RGB", (width, height), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default()
    lows = [m - s for pts in series.values() for _, m, s in pts]
    highs = [m + s for pts in series.values() for _, m, s in pts]
    y0, y1 = 5 * np.floor(min(lows) / 5), 5 * np.ceil(max(highs) / 5)
    def x(e): return left + (width - left - right) * e / 40
    def y(v): return height - bottom - (height - top - bottom) * (v - y0) / (y1 - y0)
    draw.line([(left, top), (left, height - bottom), (width - right, height - bottom)], "black")
    for e in (0, 5, 10, 20, 40):
        draw.text((x(e) - 5, height - bottom + 6), str(e), "black", font)
    for v in np.arange(y0, y1 + 0.1, 5):
        draw.line([(left - 4, y(v)), (left, y(v))], "black")
        draw.text((left - 30, y(v) - 6), f"{v:.0f}", "black", font)
    draw.text((left + 120, height - 22), "pretraining epochs (0: random init)", "black", font)
    draw.text((8, 8), "top-1 % on supervised/val (mean ± std, 3 seeds)", "black", font)
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"]
    for i, (name, points) in enumerate(series.items()):
        colour = colours[i % len(colours)]
        draw.line([(x(e), y(m)) for e, m, _ in points], colour, 2)
        for e, m, s in points:
            draw.line([(x(e), y(m - s)), (x(e), y(m + s))], colour, 1)
            draw.ellipse([x(e) - 3, y(m) - 3, x(e) + 3, y(m) + 3], colour)
        draw.line([(width - right + 15, top + 20 * i + 6), (width - right + 40, top + 20 * i + 6)],
                  colour, 2)
        draw.text((width - right + 46, top + 20 * i), name, "black", font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def pair_table(folder: Path) -> str:
    """The pair's levers (``pair`` phase): each 5-epoch pair's quality against trivial guesses
    (PAIR/NAME.quality.json, scripts/pair_quality.py) and its kNN and linear-probe top-1 at 20
    labels per class, beside random init of the same backbone (``random_BACKBONE``)."""
    cells = collect(folder)
    head = ["pair", "chroma ratio", "ab->L L1 / constant", "ab->L L1 / photo mean",
            "kNN 20", "kNN 20 minus random", "linear probe 20", "linear probe 20 minus random"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    names = sorted({init for _, init, _ in cells if init.startswith("random_")})
    names += sorted(p.name.removesuffix(".quality.json") for p in folder.glob("*.quality.json"))
    for name in names:
        quality_file = folder / f"{name}.quality.json"
        quality = json.loads(quality_file.read_text())[0] if quality_file.exists() else {}
        l1 = quality.get("l1", {})
        row = [name, str(quality.get("chroma_ratio", "-")), str(l1.get("ratio_to_constant", "-")),
               str(l1.get("ratio_to_photo_mean", "-"))]
        base = "random_" + name.split("-")[0]
        for probe in ("knn", "linprobe"):
            ours = cells.get((probe, name, "20"))
            row.append(show(ours))
            row.append("-" if name.startswith("random_") else
                       difference(ours, cells.get((probe, base, "20"))))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def cells_json(cells: dict) -> dict:
    """{"probe/init/labels": the cell's scores and their statistics}."""
    return {f"{probe}/{init}/{labels}": {**cell, "top1_stats": stats(cell["top1"])}
            for (probe, init, labels), cell in sorted(cells.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--pair", type=Path, help="the pair phase's folder (default: RUNS/pair)")
    args = parser.parse_args()
    cells = collect(args.runs)
    budget = ["random"] + [f"split_brain-e{e:03d}" for e in (5, 10, 20, 40)]
    finetune = [("finetune", "20"), ("finetune", "all")]
    tuned = sorted({init for probe, init, _ in cells if probe == "finetune"}, reverse=True)
    print("## Ablation (10 pretraining epochs each)\n")
    print(table(cells, list(ABLATION), paper=True), "\n")
    print(gains(cells, list(ABLATION[1:])), "\n")
    print("## Budget (split_brain, snapshots of one 40-epoch run)\n")
    print(table(cells, budget), "\n")
    print("## Fine-tuning\n")
    print(table(cells, tuned, finetune), "\n")
    print("## Recipe variants (split_brain 10 epochs vs random)\n")
    print(recipes(cells), "\n")
    if any(probe == "bf16-finetune" for probe, _, _ in cells):
        print("## bfloat16 (--mixed-precision) against float32\n")
        print(precision_table(cells), "\n")
    for labels in ("20", "all"):
        if any(probe.startswith("semi") and n == labels for probe, _, n in cells):
            print(f"## Fine-tuning with the unlabelled photos, {labels} labels per class\n")
            print(semi_table(cells, labels), "\n")
    pair = args.pair or args.runs / "pair"
    if pair.is_dir():
        print("## The pair's levers (5 pretraining epochs each, 20 labels per class)\n")
        print(pair_table(pair), "\n")
    print("## Calibration of the linear probes (ECE, 15 bins, %; before -> after)\n")
    for init in ABLATION:
        for labels in ("20", "all"):
            cell = cells.get(("linprobe", init, labels))
            if cell:
                print(f"- {init} {labels}: {show(cell, 'ece_uncalibrated')} -> {show(cell, 'ece')}")
    if args.json:
        out = cells_json(cells)
        if pair.is_dir():
            out["pair"] = {**cells_json(collect(pair)), "quality": {
                p.name.removesuffix(".quality.json"): json.loads(p.read_text())[0]
                for p in sorted(pair.glob("*.quality.json"))}}
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    if args.plot:
        budget_plot(cells, args.plot)


if __name__ == "__main__":
    main()

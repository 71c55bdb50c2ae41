"""How well each network of a pretraining run predicts its target, against trivial guesses.

On the 12x12 target grid of every image of ``--data``'s ``--split`` (imagenette96: val):

- ``chroma_ratio``: mean chroma (sqrt(a^2 + b^2), Lab units) of the L->ab colorization decoded
  by the annealed mean at ``--temperature`` over the mean chroma of the images' own ab.
  1 is as colourful as the photos; 0 is grey.
- ``l1``: mean |L predicted - L| (Lab units) of the ab->L network, and its ratio to two
  oracle guesses that see the answers: one constant L for every pixel of every image (the
  median, the best constant for L1) and each image's own mean L.
- ``loss``: each network's cross-entropy, beside that of always predicting the bins'
  frequencies on these images (``prior_loss``): a network that learned nothing but the
  histogram of its target scores about ``prior_loss``.

    python scripts/pair_quality.py runs/pretrain-simple --data DIR [--json out.json]

Several runs may be given; one JSON object per run is printed (and written with --json).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from keras_sb.checkpoints import load_checkpoint  # noqa: E402
from keras_sb.color import channels_to_lab_ab  # noqa: E402
from keras_sb.data import as_float, open_images  # noqa: E402
from keras_sb.models import SplitBrain  # noqa: E402
from keras_sb.models.pixel_losses import PixelCrossEntropy  # noqa: E402

L_RANGE = 100.0  # the lab space's L channel is L / 100


def prior_loss(labels: np.ndarray, classes: int) -> float:
    """Cross-entropy of the labels' own frequencies (the best input-blind guess)."""
    freq = np.bincount(labels.ravel(), minlength=classes) / labels.size
    return float(-(np.log(np.maximum(freq[labels.ravel()], 1e-12))).mean())


def measure(run: str, data: str, split: str, temperature: float, batch: int) -> dict:
    model = load_checkpoint(run, SplitBrain, flag="RUN")
    if model.codec.color_space != "lab":
        raise SystemExit(f"{run}: chroma and L are measured in Lab; this run uses "
                         f"{model.codec.color_space}")
    task = model.task
    source = open_images(data, split)
    images = source.dataset(model.image_size).batch(batch)
    sums: dict[str, list] = {"pred_ab": [], "true_ab": [], "pred_l": [], "true_l": [],
                             "logits": {d.name: [] for d in task.directions},
                             "targets": {d.name: [] for d in task.directions}}
    for rgb, _ in images:
        channels, grid = task.codec.encode(as_float(rgb))
        outputs = model.pretext_outputs(channels)
        predicted = task.predicted_channels(outputs, temperature)
        sums["true_l"].append(grid[..., 0].numpy() * L_RANGE)
        sums["true_ab"].append(channels_to_lab_ab(grid[..., 1:]).numpy())
        if "ab" in predicted:
            sums["pred_ab"].append(channels_to_lab_ab(predicted["ab"]).numpy())
        if "L" in predicted:
            sums["pred_l"].append(predicted["L"][..., 0].numpy() * L_RANGE)
        for d in task.directions:
            if d.kind == "classification":
                sums["logits"][d.name].append(outputs[d.name].numpy())
                sums["targets"][d.name].append(task.codec.quantize(grid, d.target).numpy())
    result: dict = {"run": run, "images": len(source), "split": split,
                    "temperature": temperature}
    true_l = np.concatenate(sums["true_l"])
    true_ab = np.concatenate(sums["true_ab"])
    if sums["pred_ab"]:
        pred_ab = np.concatenate(sums["pred_ab"])
        photo_chroma = float(np.linalg.norm(true_ab, axis=-1).mean())
        result["chroma_ratio"] = round(float(np.linalg.norm(pred_ab, axis=-1).mean())
                                       / photo_chroma, 4)
        result["ab_l2"] = round(float(np.linalg.norm(pred_ab - true_ab, axis=-1).mean()), 3)
    if sums["pred_l"]:
        pred_l = np.concatenate(sums["pred_l"])
        l1 = float(np.abs(pred_l - true_l).mean())
        constant = float(np.abs(true_l - np.median(true_l)).mean())
        photo_mean = float(np.abs(true_l - true_l.mean(axis=(1, 2), keepdims=True)).mean())
        result["l1"] = {"model": round(l1, 3), "constant_guess": round(constant, 3),
                        "photo_mean_guess": round(photo_mean, 3),
                        "ratio_to_constant": round(l1 / constant, 4),
                        "ratio_to_photo_mean": round(l1 / photo_mean, 4)}
    for d in task.directions:
        if sums["logits"][d.name]:
            logits = np.concatenate(sums["logits"][d.name])
            labels = np.concatenate(sums["targets"][d.name])
            result[f"{d.name}_loss"] = round(float(PixelCrossEntropy()(labels, logits)), 4)
            result[f"{d.name}_prior_loss"] = round(prior_loss(labels, logits.shape[-1]), 4)
            result[f"{d.name}_top1"] = round(float((logits.argmax(-1) == labels).mean()), 4)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="pretraining run folders or .keras files")
    parser.add_argument("--data", required=True, help="image folder or layout")
    parser.add_argument("--split", default="val", help="split of --data (default: val)")
    parser.add_argument("--temperature", type=float, default=0.38)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    results = [measure(run, args.data, args.split, args.temperature, args.batch_size)
               for run in args.runs]
    for result in results:
        print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()

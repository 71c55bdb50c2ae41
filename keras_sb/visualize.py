"""What the two networks see and predict, as images: used by training previews and the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain

PANELS = {
    "input": "input",
    "lightness_input": "L (input of L->ab)",
    "target_color": "target ab (12x12)",
    "predicted_color": "L->ab colorization",
    "target_lightness": "target L (12x12)",
    "predicted_lightness": "ab->L lightness",
    "recombined": "predicted L + ab",
}


def _gray(values: tf.Tensor) -> tf.Tensor:
    return tf.repeat(tf.clip_by_value(values, 0.0, 1.0), 3, axis=-1)


def reconstructions(model: SplitBrain | SplitBrainClassifier, rgb: np.ndarray,
                    temperature: float = 0.38) -> dict:
    """RGB images [N, S, S, 3] in [0, 1] -> {panel name: [N, S, S, 3] uint8} (see PANELS).

    ``model`` is a pretraining checkpoint or a classifier on the ``logits`` features; the
    panels are those its objective has (a colorization model predicts no lightness).
    Predictions are decoded at ``temperature`` (see ``PretextTask.predicted_channels``) and
    upsampled bilinearly; the 12x12 targets are shown as blocks (nearest-neighbour).
    """
    task = model.task
    size = rgb.shape[1:3]
    channels, targets = task.encode(rgb)
    lightness = channels[..., :1]
    panels = {"input": tf.convert_to_tensor(rgb, tf.float32), "lightness_input": _gray(lightness)}
    predicted = {part: tf.image.resize(values, size) for part, values in
                 task.predicted_channels(model.pretext_outputs(channels), temperature).items()}
    target = {part: tf.image.resize(values, size, method="nearest")
              for part, values in task.target_channels(targets).items()}

    def colour(l_channel, ab):
        return task.codec.decode_rgb(tf.concat([l_channel, ab], -1))

    if "ab" in predicted:
        # on the grid's lightness, so that the target reads as the grid it is, not full size
        grid_lightness = task.codec.encode(rgb)[1][..., :1]
        panels["target_color"] = colour(tf.image.resize(grid_lightness, size, method="nearest"),
                                        target["ab"])
        panels["predicted_color"] = colour(lightness, predicted["ab"])
    if "L" in predicted:
        panels["target_lightness"] = _gray(target["L"])
        panels["predicted_lightness"] = _gray(predicted["L"])
    if "ab" in predicted and "L" in predicted:
        panels["recombined"] = colour(predicted["L"], predicted["ab"])
    return {k: tf.cast(tf.round(v * 255.0), tf.uint8).numpy() for k, v in panels.items()}


def save_grid(panels: dict, path: str | Path, scale: int = 1) -> Path:
    """Write panels (from :func:`reconstructions`) as a PNG: one row per image, titled columns."""
    names = list(panels)
    count, height, width = panels[names[0]].shape[:3]
    cell = max(width * scale, 120)
    title_h, pad = 16, 4
    sheet = Image.new("RGB", (len(names) * (cell + pad), title_h + count * (height * scale + pad)),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for col, name in enumerate(names):
        x = col * (cell + pad)
        draw.text((x + 2, 2), PANELS.get(name, name), fill="black")
        for row in range(count):
            tile = Image.fromarray(panels[name][row]).resize(
                (width * scale, height * scale), Image.NEAREST)
            sheet.paste(tile, (x, title_h + row * (height * scale + pad)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path

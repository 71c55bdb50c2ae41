"""What the two networks see and predict, as images: used by training previews and the demo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw

from keras_sb.color import decode_channels
from keras_sb.models.classifier import SplitBrainClassifier
from keras_sb.models.split_brain import SplitBrain
from keras_sb.targets import TargetCodec, decode_distribution

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


def decode_predictions(codec: TargetCodec, outputs: dict, size, temperature: float):
    """Pretext logits -> (ab [N, S, S, 2], L [N, S, S, 1]) channels: annealed means at
    ``temperature``, upsampled bilinearly from the 12x12 grid to ``size``. Graph-friendly."""
    ab = decode_distribution(outputs["color"], codec.ab_centers(), "annealed", temperature)
    lightness = decode_distribution(outputs["lightness"], codec.l_centers(), "annealed",
                                    temperature)
    return tf.image.resize(ab, size), tf.image.resize(lightness, size)


def reconstructions(model: SplitBrain | SplitBrainClassifier, rgb: np.ndarray,
                    temperature: float = 0.38) -> dict:
    """RGB images [N, S, S, 3] in [0, 1] -> {panel name: [N, S, S, 3] uint8} (see PANELS).

    ``model`` is a pretraining checkpoint or a classifier on the ``logits`` features.
    Predicted distributions are decoded by the annealed mean at ``temperature``; the 12x12
    targets are shown as blocks (nearest-neighbour upsampling).
    """
    codec = model.codec
    size = rgb.shape[1:3]
    channels, targets = codec.encode(rgb)
    outputs = model.pretext_outputs(channels)
    predicted_ab, predicted_l = decode_predictions(codec, outputs, size, temperature)

    def blocks(centers, classes):
        return tf.image.resize(tf.gather(centers, classes), size, method="nearest")

    target_ab = blocks(codec.ab_centers(), targets["color"])
    target_l = blocks(codec.l_centers(), targets["lightness"])
    lightness = channels[..., :1]
    panels = {
        "input": tf.convert_to_tensor(rgb, tf.float32),
        "lightness_input": _gray(lightness),
        "target_color": decode_channels(tf.concat([lightness, target_ab], -1), codec.color_space),
        "predicted_color": decode_channels(tf.concat([lightness, predicted_ab], -1),
                                           codec.color_space),
        "target_lightness": _gray(target_l),
        "predicted_lightness": _gray(predicted_l),
        "recombined": decode_channels(tf.concat([predicted_l, predicted_ab], -1),
                                      codec.color_space),
    }
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

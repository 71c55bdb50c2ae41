"""Call an exported SavedModel with nothing but TensorFlow, as a serving client would.

Usage: ``python serve_check.py SAVED_MODEL IMAGE...``; prints JSON: per signature, its input
keys and each output's shape and dtype, with the values of ``serving_default``'s outputs and
the standard deviation of the others'.
"""

import json
import sys
from pathlib import Path

import tensorflow as tf


def describe(value: tf.Tensor, with_values: bool) -> dict:
    array = value.numpy()
    result = {"shape": list(array.shape), "dtype": value.dtype.name}
    if with_values:
        result["values"] = (array.astype(str) if value.dtype == tf.string else array).tolist()
    else:
        result["std"] = float(array.std())
    return result


def main(saved_model: str, *images: str) -> dict:
    loaded = tf.saved_model.load(saved_model)
    image_bytes = tf.constant([Path(path).read_bytes() for path in images])
    report = {"inputs": {}}
    for name, fn in loaded.signatures.items():
        report["inputs"][name] = sorted(fn.structured_input_signature[1])
        outputs = fn(image_bytes=image_bytes)
        report[name] = {key: describe(value, name == "serving_default")
                        for key, value in outputs.items()}
    return report


if __name__ == "__main__":
    report = main(*sys.argv[1:])
    assert "keras_sb" not in sys.modules  # (``import tensorflow`` itself imports keras)
    print(json.dumps(report))

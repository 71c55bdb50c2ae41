"""Choosing the tf.distribute strategy: several GPUs -> MirroredStrategy, with no flag."""

from __future__ import annotations

import tensorflow as tf

STRATEGIES = ("auto", "default", "mirrored", "one_device")


def select_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """``auto``: MirroredStrategy over all GPUs when more than one is visible, else the default.

    ``mirrored`` mirrors over all GPUs, or over all logical CPU devices when there is no GPU
    (how multi-device code is tested on a CPU); ``one_device`` pins the first GPU (or CPU).
    """
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0] if gpus else "/cpu:0")
    raise ValueError(f"--strategy must be one of {STRATEGIES}, got {name!r}")

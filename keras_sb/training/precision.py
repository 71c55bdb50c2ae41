"""Mixed precision for the training stages (``--mixed-precision``).

Layers compute in bfloat16 on CPUs with native bfloat16 arithmetic (AVX512-BF16, AMX; Arm's
BF16) and in float16 on GPUs (where Keras wraps the optimizer in a ``LossScaleOptimizer``);
weights stay float32, and the models' last layers (pretext heads, class logits, colour
conversion) are declared float32, so losses and logits are float32. Checkpoints do not depend
on the policy: a model's config holds no dtypes, and its weights are float32.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import keras
import tensorflow as tf

log = logging.getLogger("keras_sb")

FLOAT32 = "float32"
CPU_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 (AVX512-BF16, AMX), Arm (BF16)


def cpu_has_bfloat16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes in bfloat16 natively (elsewhere TensorFlow emulates it,
    slower than float32)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = {word for line in text.splitlines()
             if line.split(":")[0].strip() in ("flags", "Features")
             for word in line.split(":", 1)[-1].split()}
    return bool(flags & CPU_BF16_FLAGS)


def mixed_policy() -> str:
    """The mixed policy this machine supports: ``mixed_float16`` with a GPU,
    ``mixed_bfloat16`` on a CPU with bfloat16 arithmetic, else ``float32``."""
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_has_bfloat16() else FLOAT32


@contextlib.contextmanager
def training_precision(mixed: bool) -> Iterator[str]:
    """Within: Keras' global dtype policy for the models built there (``float32``, or
    :func:`mixed_policy` when ``mixed``); yields its name. The previous policy is restored
    on leaving."""
    name = mixed_policy() if mixed else FLOAT32
    if mixed and name == FLOAT32:
        log.warning("--mixed-precision: this CPU has no bfloat16 arithmetic (AVX512-BF16 or "
                    "AMX) and no GPU is visible, so training runs in float32.")
    elif mixed:
        log.info("Mixed precision: layers compute in %s, weights, losses and logits stay "
                 "float32.", name.removeprefix("mixed_"))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield name
    finally:
        keras.config.set_dtype_policy(previous)

"""Throughput benchmark: input pipeline, pretraining steps, FLOPs, matmul peak, serving latency.

Usage: ``python benchmarks/bench.py [--encoder simple] [--width 1.0] [--batch-size 64]
[--data DIR] [--steps N] [--repeats R] [--json] [--mixed-precision] [--tiny]``. Prints one
line per figure; with ``--json`` the last line is one JSON object holding every figure and the
settings.

Each rate is the best of R timed blocks. The train step, the end-to-end train step and the
matmul take turns block by block, so the figures compared by a ratio met the same load from
other processes (shared VMs vary by +-30 % from minute to minute).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from any folder
import keras_sb  # noqa: F401  (imports TensorFlow quietly, so before tensorflow)

# isort: split
import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.profiler.model_analyzer import profile
from tensorflow.python.profiler.option_builder import ProfileOptionBuilder

from keras_sb.data import SAMPLE_DATA, ImageSource, open_images
from keras_sb.export import export_saved_model
from keras_sb.models import SplitBrain, SplitBrainClassifier
from keras_sb.threads import HALVES, available_cores, intra_op_threads, share_cores_between_halves
from keras_sb.training.pretrain import pretraining_dataset

# Training FLOPs = 3 x forward FLOPs (the backward pass costs about twice the forward one).
TRAIN_FLOPS_PER_FORWARD = 3
FLOPS_CONVENTION = ("training = 3 x forward; forward counted by TF's profiler on the inference "
                    "graph, a multiply-add = 2 FLOPs")
DEFAULTS = {"width": 1.0, "batch_size": 64, "steps": 20, "repeats": 5, "warmup": 3,
            "matmul_size": 2048, "matmul_seconds": 2.0, "serve_calls": 100}
TINY = {"width": 0.25, "batch_size": 8, "steps": 3, "repeats": 1, "warmup": 1,
        "matmul_size": 256, "matmul_seconds": 0.2, "serve_calls": 20}
SERVE_WARMUP = 5
SEED = 0


@dataclass(frozen=True)
class Settings:
    """What is measured, and how long."""

    encoder: str
    width: float
    batch_size: int
    data: str
    steps: int
    repeats: int
    mixed_precision: bool
    tiny: bool
    warmup: int
    matmul_size: int
    matmul_seconds: float
    serve_calls: int


def parse_settings(argv: Sequence[str] | None = None) -> tuple[Settings, bool]:
    """Settings from the command line (flags given win over --tiny's), and whether --json."""
    parser = argparse.ArgumentParser(prog="bench.py", description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="simple", help="default: %(default)s")
    parser.add_argument("--width", type=float, help="default: 1.0 (--tiny: 0.25)")
    parser.add_argument("--batch-size", type=int, help="default: 64 (--tiny: 8)")
    parser.add_argument("--data", default=SAMPLE_DATA, help="default: the shipped sample")
    parser.add_argument("--steps", type=int, help="timed batches per figure (default: 20, "
                        "--tiny: 3)")
    parser.add_argument("--repeats", type=int, help="timed blocks per rate, the best is kept "
                        "(default: 5, --tiny: 1)")
    parser.add_argument("--json", action="store_true", help="print a JSON object last")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="mixed_float16 policy on GPUs, mixed_bfloat16 on CPUs")
    parser.add_argument("--tiny", action="store_true",
                        help="a few steps, batch 8, width 0.25, small matmul (for tests)")
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k != "json"}
    if min(given.get(key, 1) for key in ("steps", "batch_size", "repeats")) < 1:
        parser.error("--steps, --batch-size and --repeats must be at least 1")
    return Settings(**{**(TINY if args.tiny else DEFAULTS), **given}), args.json


def batches_from_files(source: ImageSource, model: SplitBrain, batch_size: int,
                       batches: int) -> tf.data.Dataset:
    """The real pretraining pipeline (decode, crop/flip, colour conversion, targets) yielding
    at least ``batches`` full batches: the list of images is repeated as often as needed."""
    repeats = math.ceil(batches * batch_size / len(source))
    repeated = copy.copy(source)
    repeated.items, repeated.labels = np.tile(source.items, repeats), np.tile(source.labels,
                                                                               repeats)
    return pretraining_dataset(repeated, model.task, model.image_size, batch_size,
                               training=True, seed=SEED)


def data_ips(dataset: tf.data.Dataset, batch_size: int, warmup: int, steps: int,
             repeats: int) -> float:
    """Best images/s over ``repeats`` blocks of ``steps`` batches read from ``dataset``."""
    batches = iter(dataset)
    for _ in range(warmup):
        next(batches)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            next(batches)
        best = max(best, steps * batch_size / (time.perf_counter() - start))
    return best


def best_in_turns(measurements: dict[str, Callable[[], float]], repeats: int) -> dict:
    """Each measurement's best rate over ``repeats`` rounds in which all of them run in turn."""
    best = dict.fromkeys(measurements, 0.0)
    for _ in range(repeats):
        for name, measure in measurements.items():
            best[name] = max(best[name], measure())
    return best


class Stopwatch(keras.callbacks.Callback):
    """Seconds from the start of batch ``first`` to the end of training.

    Both ends read a weight, which waits for the device's queued work (on a GPU).
    """

    def __init__(self, first: int):
        super().__init__()
        self.first = first
        self.started = 0.0
        self.seconds = 0.0

    def _synchronise(self) -> None:
        self.model.trainable_weights[-1].numpy()

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.first:
            self._synchronise()
            self.started = time.perf_counter()

    def on_train_end(self, logs=None):
        self._synchronise()
        self.seconds = time.perf_counter() - self.started


def fit_ips(model: keras.Model, dataset: tf.data.Dataset, batch_size: int, warmup: int,
            steps: int) -> float:
    """Images/s of ``model.fit`` on ``dataset``, timing ``steps`` batches after ``warmup``."""
    stopwatch = Stopwatch(warmup)
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[stopwatch],
              shuffle=False, verbose=0)
    return steps * batch_size / stopwatch.seconds


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one image's forward pass, counted by TF's profiler on the traced graph."""
    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32)
    graph = tf.function(model).get_concrete_function(spec).graph
    options = (ProfileOptionBuilder(ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    return profile(graph, options=options).total_float_ops


def matmul_gflops(size: int, seconds: float, dtype: tf.DType = tf.float32) -> float:
    """GFLOP/s of [size, size] matmuls (2 size^3 FLOPs each) in ``dtype``: the best window of
    10 calls in ``seconds`` of calls (short windows make the peak high, the ratio to it low).

    Each matmul runs as its two row halves at once, as the pair's two halves run, so that it
    uses every core also when each op has half of them (``share_cores_between_halves``); with
    TensorFlow's default threads it is as fast as one matmul op (development measurement).
    On GPUs that support it, TensorFlow runs float32 matmuls in TF32 by default.
    """
    a = tf.cast(tf.random.normal([size, size], seed=SEED), dtype)
    matmul = tf.function(lambda x: [tf.matmul(rows, x) for rows in tf.split(x, HALVES)])
    matmul(a)[0].numpy()
    best, started = 0.0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = time.perf_counter()
        for _ in range(10):
            result = matmul(a)
        [half.numpy() for half in result]  # waits for the queued matmuls
        best = max(best, 2 * size**3 * 10 / (time.perf_counter() - start) / 1e9)
    return best


def serve_latencies_ms(model: SplitBrainClassifier, jpeg: bytes, calls: int) -> np.ndarray:
    """Milliseconds per call of the exported SavedModel's ``serving_default`` on one JPEG."""
    with tempfile.TemporaryDirectory() as folder:
        loaded = tf.saved_model.load(str(export_saved_model(model, Path(folder) / "model")))
    serve = loaded.signatures["serving_default"]
    image_bytes = tf.constant([jpeg])
    times = []
    for call in range(SERVE_WARMUP + calls):
        start = time.perf_counter()
        outputs = {name: value.numpy() for name, value in serve(image_bytes=image_bytes).items()}
        if call >= SERVE_WARMUP:
            times.append((time.perf_counter() - start) * 1e3)
    assert outputs["probabilities"].shape == (1, model.num_classes)
    return np.array(times)


def first_jpeg(source: ImageSource, image_size: int) -> bytes:
    """The first image of ``source`` (centre crop) encoded as JPEG."""
    image = next(iter(source.dataset(image_size)))[0]
    return tf.io.encode_jpeg(tf.image.convert_image_dtype(image, tf.uint8, saturate=True)).numpy()


def cpu_name() -> str:
    """CPU model and the number of cores this process may use."""
    cores = available_cores()
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    models = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return f"{models[0] if models else platform.processor() or platform.machine()} ({cores} cores)"


def device_name() -> str:
    """The GPU name(s), else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
             for gpu in gpus]
    return ", ".join(names) or cpu_name()


def mixed_dtype() -> str:
    """The 16-bit type mixed precision computes in: float16 on GPUs; bfloat16 on CPUs, where
    oneDNN has fast bfloat16 kernels (AVX512-BF16, AMX) and float16 ones no faster than
    float32."""
    return "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"


def run(s: Settings, say: Callable[[str], None] = print) -> dict:
    """Measure every figure; ``say`` receives one human-readable line per figure."""
    mixed = mixed_dtype() if s.mixed_precision else None
    policy = f"mixed_{mixed}" if mixed else "float32"
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(SEED)
    source = open_images(s.data, "unlabelled")
    model = SplitBrain(s.encoder, s.width).compile_for_pretraining(1e-3)
    batches = s.warmup + s.steps
    say(f"{s.encoder} x{s.width}, batch {s.batch_size}, best of {s.repeats} x {s.steps} steps, "
        f"{policy}; {source.description}")
    threads = intra_op_threads() or "all"
    say(f"device: {device_name()}; cpu: {cpu_name()}; intra-op threads: {threads}")
    data_batches = s.warmup + s.repeats * s.steps
    figures = {"data_ips": data_ips(batches_from_files(source, model, s.batch_size, data_batches),
                                    s.batch_size, s.warmup, s.steps, s.repeats)}
    say(f"data pipeline    {figures['data_ips']:10.1f} images/s (JPEG decode, crop/flip, "
        "colour conversion, targets; no model)")
    one_batch = tf.data.Dataset.from_tensors(
        next(iter(batches_from_files(source, model, s.batch_size, 1)))).repeat()
    from_files = batches_from_files(source, model, s.batch_size, batches)
    figures.update(best_in_turns({
        "train_step_ips": lambda: fit_ips(model, one_batch, s.batch_size, s.warmup, s.steps),
        "train_e2e_ips": lambda: fit_ips(model, from_files, s.batch_size, s.warmup, s.steps),
        "matmul_peak_gflops": lambda: matmul_gflops(s.matmul_size, s.matmul_seconds),
    }, s.repeats))
    say(f"train step       {figures['train_step_ips']:10.1f} images/s (fit on one in-memory "
        "batch)")
    say(f"train end-to-end {figures['train_e2e_ips']:10.1f} images/s (fit fed from the JPEGs), "
        f"{figures['train_e2e_ips'] / figures['train_step_ips']:.0%} of the train step")
    forward = forward_flops(model)
    figures["flops_per_image"] = TRAIN_FLOPS_PER_FORWARD * forward
    figures["achieved_gflops"] = figures["flops_per_image"] * figures["train_step_ips"] / 1e9
    say(f"FLOPs per image  {figures['flops_per_image'] / 1e9:10.3f} GFLOP ({FLOPS_CONVENTION})")
    peaks = {"float32": figures["matmul_peak_gflops"]}
    if mixed:
        peaks[mixed] = figures[f"matmul_peak_gflops_{mixed}"] = matmul_gflops(
            s.matmul_size, s.matmul_seconds, tf.as_dtype(mixed))
    say(f"achieved         {figures['achieved_gflops']:10.1f} GFLOP/s in the train step, " +
        ", ".join(f"{figures['achieved_gflops'] / peak:.0%} of the {peak:.1f} GFLOP/s of a "
                  f"{dtype} {s.matmul_size}^2 matmul" for dtype, peak in peaks.items()))
    served = SplitBrainClassifier(SplitBrain(s.encoder, s.width), 10, feature_layer="logits",
                                  feature_dims=28800)  # the model of the recorded figures
    latencies = serve_latencies_ms(served, first_jpeg(source, model.image_size), s.serve_calls)
    figures["serve_p50_ms"], figures["serve_p95_ms"] = np.percentile(latencies, [50, 95]).tolist()
    say(f"serving          p50 {figures['serve_p50_ms']:.2f} ms, p95 "
        f"{figures['serve_p95_ms']:.2f} ms (1 JPEG through the SavedModel's serving_default, "
        f"{s.serve_calls} calls)")
    return {
        **figures,
        "forward_flops_per_image": forward,
        "flops_convention": FLOPS_CONVENTION,
        **asdict(s),
        "policy": policy,
        "intra_op_threads": threads,
        "device": device_name(),
        "cpu": cpu_name(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    settings, as_json = parse_settings(argv)
    share_cores_between_halves()  # as train.py does
    report = run(settings, lambda line: print(line, flush=True))
    if as_json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())

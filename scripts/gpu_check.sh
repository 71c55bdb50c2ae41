#!/usr/bin/env bash
# GPU check, at most 8 minutes: the device-related tests, `benchmarks/bench.py
# --mixed-precision --json` for `simple` and `alex`, a 2-epoch MirroredStrategy pretraining
# over all visible GPUs, then one summary (a table, and a JSON object as the last line).
#
#   bash scripts/gpu_check.sh                  # on the GPU machine, from any folder
#   GPU_CHECK_QUICK=1 bash scripts/gpu_check.sh  # small settings (the default with no GPU)
#
# Every step runs under `timeout` and within the overall budget; a failing step is reported
# and the next one runs. Optional steps (multi-worker tests, float32 benchmarks) run only when
# their time limit still fits. The exit code is 0 only when no step failed. Nothing is
# downloaded but packages: requirements.txt (scripts/setup_env.sh, a no-op once installed),
# and tensorflow[and-cuda] when nvidia-smi lists GPUs that TensorFlow does not see. The data
# are the shipped sample photos (copied 16 times in full mode, for longer epochs).
#
# Environment:
#   OUT               where the results go (default runs/gpu_check): summary.json,
#                     gpu_check.log, bench.jsonl, tests-*.xml, pretrain-summary.json,
#                     pretrain-log.csv
#   GPU_CHECK_QUICK   1: tiny benchmark and small pretraining; 0: full; unset: 1 with no GPU
#   GPU_CHECK_BUDGET  seconds for the whole script (default 470)
#   GPU_CHECK_PYTHON  a Python with the requirements installed (default: .venv, set up here)
#   GPU_CHECK_KEEP    1: keep the scratch folder (the pretraining run folder, step outputs)
#   GPU_CHECK_BENCH_ARGS  bench.py flags (default: --steps 50 --repeats 3; quick: --tiny)
#   GPU_CHECK_DATA    the pretraining images instead of the sample
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-470}
RESERVE=15  # seconds kept for the summary
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX") || exit 1
STEPS=$WORK/steps.tsv
: >"$STEPS"
: >"$OUT/bench.jsonl"
rm -f "$OUT"/tests-*.xml "$OUT"/pretrain-summary.json "$OUT"/pretrain-log.csv "$OUT"/summary.json
if [ "${GPU_CHECK_KEEP:-0}" != 1 ]; then
  trap 'rm -rf "$WORK"' EXIT
fi
exec 3>&1 4>&2 > >(tee "$OUT/gpu_check.log") 2>&1
TEE_PID=$!
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2

note() { printf '\n=== %s\n' "$*"; }

# record NAME STATUS SECONDS RC REQUIRED NOTE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$STEPS"; }

# step NAME CAP REQUIRED CMD...: runs CMD under timeout (CAP seconds, less if the budget is
# short), its output in $WORK/NAME.out and on the console. An optional step (REQUIRED=0)
# runs only when its whole CAP still fits in the budget.
step() {
  local name=$1 cap=$2 required=$3
  shift 3
  local left=$((BUDGET - (SECONDS - START) - RESERVE))
  local limit=$((cap < left ? cap : left))
  if [ "$required" = 0 ] && [ "$left" -lt "$cap" ]; then
    note "$name: skipped (${left}s of the budget left, it may take ${cap}s)"
    record "$name" skipped 0 "" 0 "budget"
    return 0
  fi
  if [ "$limit" -lt 10 ]; then
    note "$name: not run (budget of ${BUDGET}s spent)"
    record "$name" "not run" 0 "" "$required" "budget spent"
    return 1
  fi
  local shown="$*"
  shown=${shown//$'\n'/ }
  [ "${#shown}" -gt 160 ] && shown="${shown:0:160}..."
  note "$name (limit ${limit}s): $shown"
  local t0=$SECONDS rc status
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$WORK/$name.out"
  rc=${PIPESTATUS[0]}
  case $rc in
    0) status=ok ;;
    124 | 137) status=timeout ;;
    *) status=failed ;;
  esac
  echo "--- $name: $status (exit $rc, $((SECONDS - t0))s)"
  record "$name" "$status" "$((SECONDS - t0))" "$rc" "$required" ""
  return "$rc"
}

skip() {  # skip NAME REQUIRED REASON
  note "$1: skipped ($3)"
  record "$1" skipped 0 "" "$2" "$3"
}

# --- 1. Python environment -----------------------------------------------------------------
if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
  PY=$GPU_CHECK_PYTHON
  record setup ok 0 0 1 "GPU_CHECK_PYTHON=$PY"
elif step setup 240 1 bash -c 'source scripts/setup_env.sh'; then
  PY=$PWD/.venv/bin/python
elif python3 -c 'import tensorflow, keras' >/dev/null 2>&1; then
  PY=python3
  echo "setup_env.sh failed; using python3, which has TensorFlow and Keras"
else
  PY=""
fi

# --- 2. Devices ----------------------------------------------------------------------------
note "devices"
SMI_GPUS=0
if command -v nvidia-smi >/dev/null 2>&1; then
  timeout 20 nvidia-smi -L | tee "$WORK/nvidia-smi.txt"
  SMI_GPUS=$(grep -c '^GPU ' "$WORK/nvidia-smi.txt")
else
  echo "nvidia-smi: not found"
fi
devices_py='
import json, platform
import keras_sb  # noqa: F401  (imports TensorFlow quietly)
import keras, tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
build = tf.sysconfig.get_build_info()
print(f"tf_gpu_count: {len(gpus)}")
print(json.dumps({"tf_gpus": names, "tensorflow": tf.__version__, "keras": keras.__version__,
                  "python": platform.python_version(), "cuda_build": build.get("cuda_version"),
                  "cudnn_build": build.get("cudnn_version")}))
'
tf_gpus() {  # the number of GPUs the devices step saw (0 if it failed)
  local count
  count=$(sed -n 's/^tf_gpu_count: \([0-9]*\)$/\1/p' "$WORK/devices.out" 2>/dev/null | tail -n 1)
  echo "${count:-0}"
}
TF_GPUS=0
if [ -n "$PY" ]; then
  step devices 90 1 "$PY" -c "$devices_py"
  TF_GPUS=$(tf_gpus)
  if [ "$SMI_GPUS" -gt 0 ] && [ "$TF_GPUS" -eq 0 ] && [ "$PY" = "$PWD/.venv/bin/python" ]; then
    # The plain tensorflow wheel brings no CUDA libraries: add them (tensorflow[and-cuda]).
    tf_version=$("$PY" -c 'import importlib.metadata as m; print(m.version("tensorflow"))')
    step cuda_libraries 240 1 "$PY" -m pip install --quiet "tensorflow[and-cuda]==$tf_version" &&
      step devices_again 90 1 "$PY" -c "$devices_py" && cp "$WORK/devices_again.out" "$WORK/devices.out"
    TF_GPUS=$(tf_gpus)
  fi
else
  skip devices 1 "no Python with TensorFlow: setup failed"
fi
if [ "$TF_GPUS" -eq 0 ]; then
  echo "No GPU visible to TensorFlow (nvidia-smi lists $SMI_GPUS): the checks run on the CPU."
fi
QUICK=${GPU_CHECK_QUICK:-$([ "$TF_GPUS" -eq 0 ] && echo 1 || echo 0)}
echo "TensorFlow sees $TF_GPUS GPU(s); mode: $([ "$QUICK" = 1 ] && echo quick || echo full)"

if [ -z "$PY" ]; then
  for name in tests mirrored_equivalence bench_simple_mixed bench_alex_mixed pretrain; do
    skip "$name" 1 "no Python with TensorFlow"
  done
else
  # --- 3. Device-related tests -------------------------------------------------------------
  # TF_FORCE_GPU_ALLOW_GROWTH: test processes share the GPU instead of each taking all of it.
  export TF_FORCE_GPU_ALLOW_GROWTH=true
  tests=(tests/test_batch_norm.py
    "tests/test_pretrain.py::test_short_pretraining_on_real_photos_lowers_the_loss"
    "tests/test_bench.py::test_tiny_benchmark_reports_every_figure[False]")
  if [ "$TF_GPUS" -eq 0 ]; then
    # On a GPU these two expect what only a CPU gives (2 logical CPUs, bfloat16); there the
    # mirrored_equivalence step below does the first one's check on the GPU.
    tests+=("tests/test_pretrain.py::test_mirrored_strategy_on_two_logical_cpus_matches_one_device"
      "tests/test_bench.py::test_tiny_benchmark_reports_every_figure[True]")
  fi
  step tests "$([ "$QUICK" = 1 ] && echo 200 || echo 150)" 1 "$PY" -m pytest -q -rfE \
    -p no:cacheprovider --junitxml="$OUT/tests-junit.xml" "${tests[@]}"

  # --- 4. MirroredStrategy = one device, on 2 GPUs (or GPU:0 split in two) ----------------
  mirrored_py='
import contextlib, io, json, sys
sys.path.insert(0, "tests")
import keras_sb  # noqa: F401
import numpy as np
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
if len(gpus) >= 2:
    tf.config.set_visible_devices(gpus[:2], "GPU")
    where = "2 GPUs"
elif gpus:
    tf.config.set_logical_device_configuration(
        gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=4096)] * 2)
    where = "GPU:0 split into 2 logical GPUs"
else:
    where = "2 logical CPU devices (no GPU)"
tf.config.experimental.enable_tensor_float_32_execution(False)  # compare float32 with float32
import mirrored_vs_single  # the test script: default vs mirrored, same weights and batches
captured = io.StringIO()
with contextlib.redirect_stdout(captured):
    mirrored_vs_single.main(sys.argv[1])
runs = json.loads(captured.getvalue().strip().splitlines()[-1])
one, two = runs["default"], runs["mirrored"]
loss_diff = float(np.max(np.abs(np.subtract(two["loss"], one["loss"])) / np.abs(one["loss"])))
color_diff = float(np.max(np.abs(np.subtract(two["color"], one["color"]))))
ok = one["replicas"] == 1 and two["replicas"] == 2 and loss_diff <= 1e-4 and color_diff <= 1e-3
print(json.dumps({"mirrored_equivalence": {"devices": where, "replicas": two["replicas"],
      "loss_rel_diff": loss_diff, "color_abs_diff": color_diff, "ok": ok}}))
sys.exit(0 if ok else 1)
'
  # Without TF_FORCE_GPU_ALLOW_GROWTH: it does not mix with logical GPUs' memory limits.
  step mirrored_equivalence 120 1 env -u TF_FORCE_GPU_ALLOW_GROWTH \
    "$PY" -c "$mirrored_py" keras_sb/sample_data

  # --- 5. Benchmarks -------------------------------------------------------------------------
  if [ "$QUICK" = 1 ]; then
    read -ra bench_args <<<"${GPU_CHECK_BENCH_ARGS:---tiny}"
    bench_cap=100
  else
    read -ra bench_args <<<"${GPU_CHECK_BENCH_ARGS:---steps 50 --repeats 3}"
    bench_cap=110
  fi
  bench() {  # bench NAME REQUIRED ENCODER [--mixed-precision]
    local name=$1 required=$2 encoder=$3
    shift 3
    step "$name" "$bench_cap" "$required" "$PY" benchmarks/bench.py --json --encoder "$encoder" \
      "${bench_args[@]}" "$@"
    local json
    json=$(tail -n 1 "$WORK/$name.out" 2>/dev/null)
    if [[ $json == "{"* ]]; then
      printf '{"step": "%s", "report": %s}\n' "$name" "$json" >>"$OUT/bench.jsonl"
    fi
  }
  bench bench_simple_mixed 1 simple --mixed-precision
  bench bench_alex_mixed 1 alex --mixed-precision

  # --- 6. Two epochs of pretraining, MirroredStrategy over all visible GPUs -----------------
  if [ -n "${GPU_CHECK_DATA:-}" ]; then
    data=$GPU_CHECK_DATA
  elif [ "$QUICK" = 1 ]; then
    data=keras_sb/sample_data
  else
    # 16 copies of the 299 shipped photos: epochs of ~70 steps at batch 64 instead of 5.
    data=$WORK/data
    "$PY" -c 'import pathlib, shutil, sys
target = pathlib.Path(sys.argv[1], "unsupervised")
target.mkdir(parents=True)
for copy in range(16):
    for photo in sorted(pathlib.Path("keras_sb/sample_data/unsupervised").glob("*.jpg")):
        shutil.copyfile(photo, target / f"c{copy:02d}_{photo.name}")' "$data"
  fi
  pretrain_args=(--stage pretrain --strategy mirrored --epochs 2 --data "$data"
    --out "$WORK/pretrain" --batch-size 64 --no-progress)
  [ "$QUICK" = 1 ] && pretrain_args+=(--width 0.25)
  step pretrain 150 1 "$PY" train.py "${pretrain_args[@]}"
  cp "$WORK/pretrain/summary.json" "$OUT/pretrain-summary.json" 2>/dev/null
  cp "$WORK/pretrain/log.csv" "$OUT/pretrain-log.csv" 2>/dev/null

  # --- 7. If time remains: multi-worker tests, float32 benchmarks ----------------------------
  if [ -f tests/test_multi_worker.py ]; then
    # Two workers on one GPU would share it: with fewer than 2 GPUs they run on the CPU.
    # Quick mode leaves out the runs of several workers (minutes on 2 cores).
    gpu_env=()
    [ "$TF_GPUS" -lt 2 ] && gpu_env=(env CUDA_VISIBLE_DEVICES=)
    marker=()
    [ "$QUICK" = 1 ] && marker=(-m "not slow")
    step tests_multi_worker 150 0 "${gpu_env[@]}" "$PY" -m pytest -q -rfE -p no:cacheprovider \
      --junitxml="$OUT/tests-multi-worker-junit.xml" "${marker[@]}" tests/test_multi_worker.py
  fi
  bench bench_simple_float32 0 simple
  bench bench_alex_float32 0 alex
fi

# --- 8. Summary ----------------------------------------------------------------------------
note "summary"
summary_python=python3
command -v python3 >/dev/null 2>&1 || summary_python=${PY:-python}
"$summary_python" - "$WORK" "$OUT" "$((SECONDS - START))" "$BUDGET" "$QUICK" <<'EOF'
"""One summary of the steps: a table, then one JSON object (also in OUT/summary.json)."""
import csv
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

work, out = Path(sys.argv[1]), Path(sys.argv[2])
seconds, budget, quick = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"


def text(name):
    path = work / f"{name}.out"
    return path.read_text(errors="replace") if path.exists() else ""


steps = {}
for row in csv.reader((work / "steps.tsv").open(), delimiter="\t"):
    name, status, secs, rc, required, why = (row + [""] * 6)[:6]
    steps[name] = {"status": status, "seconds": int(secs or 0), "exit": int(rc) if rc else None,
                   "required": required == "1", **({"note": why} if why else {})}

devices = {}
for line in reversed(text("devices").splitlines()):
    if line.startswith("{"):
        devices = json.loads(line)
        break
smi = work / "nvidia-smi.txt"
devices["nvidia_smi"] = smi.read_text().split("\n") if smi.exists() else []
devices["nvidia_smi"] = [line for line in devices["nvidia_smi"] if line.strip()]

tests = {}
for name in ("tests", "tests_multi_worker"):
    xml = out / ("tests-junit.xml" if name == "tests" else "tests-multi-worker-junit.xml")
    if xml.exists() and name in steps:
        suite = ET.parse(xml).getroot()
        suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
        counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
        counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
        counts["failed"] = [c.get("classname", "") + "::" + c.get("name", "")
                            for c in suite.iter("testcase")
                            if c.find("failure") is not None or c.find("error") is not None]
        tests[name] = counts

mirrored = {}
for line in text("mirrored_equivalence").splitlines():
    if line.startswith('{"mirrored_equivalence"'):
        mirrored = json.loads(line)["mirrored_equivalence"]

FIGURES = ("train_step_ips", "train_e2e_ips", "achieved_gflops", "data_ips", "matmul_peak_gflops",
           "serve_p50_ms")
bench = {}
bench_file = out / "bench.jsonl"
for line in bench_file.read_text().splitlines() if bench_file.exists() else []:
    entry = json.loads(line)
    report = entry["report"]
    bench[entry["step"]] = {
        "encoder": report.get("encoder"), "policy": report.get("policy"),
        **{k: round(report[k], 2) for k in FIGURES if k in report},
        **{k: round(v, 1) for k, v in report.items() if k.startswith("matmul_peak_gflops_")},
        "batch_size": report.get("batch_size"), "width": report.get("width"),
        "device": report.get("device")}

pretrain = {}
log = text("pretrain")
if log:
    epochs = re.findall(r"^\s*\d+/\d+ - (\d+)s - ", log, re.M)
    pretrain["epoch_seconds"] = [int(s) for s in epochs]
    if m := re.search(r"Pretraining on (\d+) images", log):
        pretrain["train_images"] = int(m.group(1))
    if m := re.search(r"(\d+) device\(s\), global batch (\d+)", log):
        pretrain["replicas"], pretrain["global_batch"] = int(m.group(1)), int(m.group(2))
    if m := re.search(r"Using MirroredStrategy with devices \((.*)\)", log):
        pretrain["devices"] = re.findall(r"device:(\w+:\d+)", m.group(1))
summary_file = out / "pretrain-summary.json"
if summary_file.exists():
    done = json.loads(summary_file.read_text())
    pretrain.update(epochs=done.get("epochs"), loss=done.get("loss"),
                    wall_seconds=done.get("wall_seconds_last_session"))
    if pretrain.get("wall_seconds") and pretrain.get("epochs"):
        pretrain["seconds_per_epoch"] = round(pretrain["wall_seconds"] / pretrain["epochs"], 1)

# A required step must pass; an optional one (run only when its time fits) must not fail.
failed_steps = [n for n, s in steps.items()
                if s["status"] != "ok" and (s["required"] or s["status"] != "skipped")]
failed_tests = sum(len(t["failed"]) for t in tests.values())
ok = not failed_steps and failed_tests == 0 and bool(steps)
summary = {"ok": ok, "failed_steps": failed_steps, "mode": "quick" if quick else "full",
           "seconds": seconds, "budget_seconds": budget, "devices": devices, "steps": steps,
           "tests": tests, "mirrored_equivalence": mirrored, "bench": bench,
           "pretrain": pretrain}
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

gpus = devices.get("tf_gpus")
print(f"GPU check: {'PASSED' if ok else 'FAILED'} in {seconds}s ({summary['mode']} mode, "
      f"budget {budget}s)")
print(f"GPUs: nvidia-smi {len(devices['nvidia_smi'])}, TensorFlow "
      f"{len(gpus) if gpus is not None else '?'}{' ' + ', '.join(gpus) if gpus else ''}; "
      f"TF {devices.get('tensorflow', '?')}"
      f", Keras {devices.get('keras', '?')}, CUDA build {devices.get('cuda_build', '?')}")
print(f"{'step':24} {'status':9} {'s':>5}  note")
for name, s in steps.items():
    flag = "" if s["required"] else " (optional)"
    print(f"{name:24} {s['status']:9} {s['seconds']:5d}  {s.get('note', '')}{flag}")
for name, t in tests.items():
    print(f"{name}: {t['passed']} passed, {len(t['failed'])} failed, {t['skipped']} skipped"
          + (f" ({', '.join(t['failed'])})" if t["failed"] else ""))
if mirrored:
    print(f"mirrored equivalence on {mirrored['devices']}: {mirrored['replicas']} replicas, loss "
          f"rel. diff {mirrored['loss_rel_diff']:.2e}, output diff {mirrored['color_abs_diff']:.2e}")
if bench:
    print(f"{'benchmark':22} {'policy':15} {'step img/s':>10} {'e2e img/s':>10} {'GFLOP/s':>9} "
          f"{'data img/s':>10}")
    for name, b in bench.items():
        print(f"{name:22} {b['policy'] or '':15} {b.get('train_step_ips', 0):10.1f} "
              f"{b.get('train_e2e_ips', 0):10.1f} {b.get('achieved_gflops', 0):9.1f} "
              f"{b.get('data_ips', 0):10.1f}")
if pretrain.get("epochs") or pretrain.get("epoch_seconds"):
    print(f"pretraining: {pretrain.get('epochs', '?')} epochs of {pretrain.get('train_images', '?')}"
          f" images on {pretrain.get('replicas', '?')} replica(s)"
          f"{' (' + ', '.join(pretrain['devices']) + ')' if pretrain.get('devices') else ''}, "
          f"global batch {pretrain.get('global_batch', '?')}; epochs took "
          f"{pretrain.get('epoch_seconds')} s (Keras), {pretrain.get('seconds_per_epoch', '?')} s "
          f"per epoch over the whole fit; loss {pretrain.get('loss')}")
print(json.dumps(summary))
sys.exit(0 if ok else 1)
EOF
status=$?
exec 1>&3 2>&4 3>&- 4>&-  # let tee finish the log before the script ends
wait "$TEE_PID" 2>/dev/null
exit "$status"

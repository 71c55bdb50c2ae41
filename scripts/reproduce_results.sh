#!/usr/bin/env bash
# Every run behind docs/results.md, in order; finished runs are skipped and an interrupted one
# resumes, so the script can be stopped and rerun. Then the tables, JSON and plot:
#   python scripts/results_summary.py runs/results
#
# Usage: DATA=/path/to/imagenette96 bash scripts/reproduce_results.sh [PHASE ...]
# (imagenette96: docs/data.md, "Where to get the datasets")
# PHASE: ablation (pretrain each objective 10 epochs; linear probe and kNN), budget (split_brain
# for 40 epochs, probes of the epoch 5/10/20/40 snapshots), recipes (probe variants), finetune
# (and ship the demo model); default: all four, in that order. Not in the default: semi
# (fine-tuning with the unlabelled photos: joint pretext objective, pseudo-labels, both; from
# the 40-epoch pair and from random weights), semi_long (the same 5x longer, plain and both)
# and precision (finetune in bfloat16, against the float32 runs of finetune); these three
# start JOBS (default 1) runs at a time in the background, each logging to
# $R/logs/NAME.log, and wait for them at the end of the phase. Also not in the default: pair
# (the pair's levers: backbone, bins, rebalancing, soft targets; in PAIR, default $R/pair)
# and pair_long (the levers that helped, 40 epochs).
# Protocol: 10 % of each class of supervised/train is held out to choose epochs and fit the
# calibration; supervised/val is scored once per run. Seeds 0-2 are the three label draws
# (and, for random init, the three initial weights).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:?set DATA to the imagenette96 folder (docs/data.md, Where to get the datasets)}
R=${RUNS:-runs/results}
SEEDS=${SEEDS:-0 1 2}
PYTHON=${PYTHON:-python}
train() { "$PYTHON" train.py --data "$DATA" --no-progress "$@"; }
JOBS=${JOBS:-1}
# train in the background, logging to $R/logs/NAME.log (NAME: the run folder's), at most JOBS
# at once; a failed run is reported (see its log) and the others go on.
train_bg() {
  local out=${*: -1} name
  name=$(basename "$out")
  mkdir -p "$R/logs"
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n || echo "a run failed: see $R/logs/" >&2; done
  echo "started $name (log: $R/logs/$name.log)"
  train "$@" > "$R/logs/$name.log" 2>&1 &
}
finish_bg() {
  while (( $(jobs -rp | wc -l) > 0 )); do wait -n || echo "a run failed: see $R/logs/" >&2; done
}
knn() { "$PYTHON" train.py --data "$DATA" --stage knn "$@"; }

# Linear probe (conv3) and kNN of one initialisation at 20 labels per class and all labels.
probes() {
  local init=$1 name=$2
  for labels in 20 all; do
    local n=$labels && [ "$labels" = all ] && n=0
    for seed in $SEEDS; do
      train --stage linprobe --init "$init" --labels-per-class $n --seed $seed \
        --out "$R/linprobe-$name-$labels-s$seed"
      knn --init "$init" --labels-per-class $n --seed $seed \
        --out "$R/knn-$name-$labels-s$seed"
    done
  done
}

ablation() {
  probes random random
  for objective in split_brain split_brain_regression colorization lightness; do
    train --stage pretrain --objective $objective --epochs 10 --no-previews \
      --out "$R/pretrain-$objective"
    probes "$R/pretrain-$objective" $objective
  done
}

budget() {
  train --stage pretrain --epochs 40 --patience 40 --snapshot-every 5 --no-previews \
    --out "$R/pretrain-split_brain-40"
  for epoch in 005 010 020 040; do
    probes "$R/pretrain-split_brain-40/epoch_$epoch.keras" split_brain-e$epoch
  done
}

finetune() {
  local -A inits=([random]=random [pretrain-split_brain]="$R/pretrain-split_brain"
                  [split_brain-e040]="$R/pretrain-split_brain-40/epoch_040.keras")
  for labels in 20 all; do
    local n=$labels && [ "$labels" = all ] && n=0
    for seed in $SEEDS; do
      for name in "${!inits[@]}"; do
        train --stage finetune --init "${inits[$name]}" --labels-per-class $n --seed $seed \
          --out "$R/finetune-$name-$labels-s$seed"
      done
    done
  done
  # the original system's recipe: a head on the 12x12 outputs at Adam 1e-3
  train --stage finetune --init "$R/pretrain-split_brain" --feature-layer logits \
    --feature-dims 28800 --learning-rate 1e-3 --labels-per-class 0 --seed 0 \
    --out "$R/recipe-finetune_logits-split_brain-all-s0"
  PYTHONPATH=. "$PYTHON" scripts/ship_default_model.py "$R/finetune-split_brain-e040-all-s2"
}

# Probe variants on the 10-epoch pair (recipe search; chosen on the held-out images).
recipes() {
  local variants=("pool2 --feature-dims 384" "gap --feature-dims 96" "conv2 --feature-layer conv2"
                  "conv4 --feature-layer conv4" "multi --feature-layer conv2+conv3+conv4"
                  "multigap --feature-layer conv2+conv3+conv4 --feature-dims 336")
  for labels in 20 all; do
    local n=$labels seeds=$SEEDS && [ "$labels" = all ] && n=0 && seeds=0
    for variant in "${variants[@]}"; do
      read -r name flags <<< "$variant"
      for seed in $seeds; do
        for init in "$R/pretrain-split_brain" random; do
          # shellcheck disable=SC2086
          train --stage linprobe --init "$init" --labels-per-class $n --seed $seed $flags \
            --out "$R/recipe-linprobe_$name-$(basename "$init" | sed s/pretrain-//)-$labels-s$seed"
        done
      done
    done
  done
}

# Fine-tuning with the unlabelled photos: each method from the 40-epoch pair and from random
# weights, so that the table separates what pretraining adds from what the unlabelled photos
# add. An epoch is one pass over the labelled images, so the schedules are longer than
# finetune's; the plain rows are the controls.
# semi_runs PREFIX "SCHEDULE" "LABEL COUNTS" "METHOD [FLAGS]"...
semi_runs() {
  local prefix=$1 schedule=$2 counts=$3
  shift 3
  local -A inits=([random]=random [split_brain-e040]="$R/pretrain-split_brain-40/epoch_040.keras")
  for labels in $counts; do
    local n=$labels && [ "$labels" = all ] && n=0
    for seed in $SEEDS; do
      for name in "${!inits[@]}"; do
        for method in "$@"; do
          read -r label flags <<< "$method"
          # shellcheck disable=SC2086
          train_bg --stage finetune --init "${inits[$name]}" --labels-per-class $n --seed $seed \
            $schedule $flags --out "$R/$prefix-$label-$name-$labels-s$seed"
        done
      done
    done
  done
  finish_bg
}
JOINT="--pretext-weight 1" PSEUDO="--pseudo-label-threshold 0.95"
semi() {
  semi_runs semi "--epochs 60 --patience 15 --lr-decay 0.97" "20 all" plain "joint $JOINT" \
    "pseudo $PSEUDO" "joint_pseudo $JOINT $PSEUDO"
}
# 5x longer: the plain control and both methods together
semi_long() {
  semi_runs semi_long "--epochs 300 --patience 75 --lr-decay 0.994" 20 plain \
    "joint_pseudo $JOINT $PSEUDO"
}

# finetune's runs from the 40-epoch pair again with --mixed-precision (bfloat16 on CPUs that
# have it): the same results within noise?
precision() {
  for labels in 20 all; do
    local n=$labels && [ "$labels" = all ] && n=0
    for seed in $SEEDS; do
      train_bg --stage finetune --init "$R/pretrain-split_brain-40/epoch_040.keras" \
        --labels-per-class $n --seed $seed --mixed-precision \
        --out "$R/bf16-finetune-split_brain-e040-$labels-s$seed"
    done
  done
  finish_bg
}

# The pair's levers, 5 pretraining epochs each: backbone (simple, compact), ab bins (grid:10,
# gamut), class rebalancing, soft targets, centred inputs, random resized crops. Each pair is measured on val against
# trivial guesses (scripts/pair_quality.py: PAIR/NAME.quality.json) and by kNN and linear
# probes at 20 labels per class, beside random init of the same backbone.
PAIR=${PAIR:-$R/pair}
PAIRS=("simple-base" "simple-gamut --ab-bins gamut" "compact-base --encoder compact"
       "compact-gamut --encoder compact --ab-bins gamut"
       "compact-soft5 --encoder compact --soft-targets 5"
       "compact-gamut-rb5 --encoder compact --ab-bins gamut --ab-rebalance 0.5"
       "compact-gamut-rb5-soft5 --encoder compact --ab-bins gamut --ab-rebalance 0.5 --soft-targets 5"
       "compact-gamut-rb5-soft5-centred --encoder compact --ab-bins gamut --ab-rebalance 0.5 --soft-targets 5 --center-inputs"
       "compact-crop35 --encoder compact --crop-area 0.35"
       "compact-centred --encoder compact --center-inputs"
       "compact-centred-soft5 --encoder compact --center-inputs --soft-targets 5")
pair_probes() {
  local init=$1 name=$2
  shift 2
  for seed in $SEEDS; do
    knn --init "$init" --labels-per-class 20 --seed $seed "$@" --out "$PAIR/knn-$name-20-s$seed"
    train --stage linprobe --init "$init" --labels-per-class 20 --seed $seed "$@" \
      --out "$PAIR/linprobe-$name-20-s$seed"
  done
}
pair() {
  for encoder in simple compact; do
    pair_probes random "random_$encoder" --encoder $encoder
  done
  for spec in "${PAIRS[@]}"; do
    read -r name flags <<< "$spec"
    # shellcheck disable=SC2086
    train --stage pretrain --epochs ${PAIR_EPOCHS:-5} --no-previews $flags --out "$PAIR/$name"
    [ -f "$PAIR/$name.quality.json" ] || "$PYTHON" scripts/pair_quality.py "$PAIR/$name" \
      --data "$DATA" --json "$PAIR/$name.quality.json"
    pair_probes "$PAIR/$name" "$name"
  done
}
# The levers that helped, together, for 40 epochs (snapshots after 5, 10, 20 and 40 probed):
# the candidate for the shipped pair.
pair_long() {
  train --stage pretrain --encoder compact --center-inputs --soft-targets 5 --epochs 40 \
    --snapshot-every 5 --no-previews --out "$PAIR/compact-centred-soft5-40"
  for epoch in 005 010 020 040; do
    local run="$PAIR/compact-centred-soft5-40/epoch_$epoch.keras"
    local name="compact-centred-soft5-e$epoch"
    [ -f "$PAIR/$name.quality.json" ] || "$PYTHON" scripts/pair_quality.py "$run" \
      --data "$DATA" --json "$PAIR/$name.quality.json"
    pair_probes "$run" "$name"
  done
}

for phase in "${@:-ablation budget recipes finetune}"; do
  for step in $phase; do $step; done
done

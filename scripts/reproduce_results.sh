#!/usr/bin/env bash
# Every run behind docs/results.md, in order; finished runs are skipped and an interrupted one
# resumes, so the script can be stopped and rerun. Then the tables, JSON and plot:
#   python scripts/results_summary.py runs/results
#
# Usage: DATA=../shared/data/imagenette96 bash scripts/reproduce_results.sh [PHASE ...]
# PHASE: ablation (pretrain each objective 10 epochs; linear probe and kNN), budget (split_brain
# for 40 epochs, probes of the epoch 5/10/20/40 snapshots), finetune; default: all three.
# Protocol: 10 % of each class of supervised/train is held out to choose epochs and fit the
# calibration; supervised/val is scored once per run. Seeds 0-2 are the three label draws
# (and, for random init, the three initial weights).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/imagenette96}
R=${RUNS:-runs/results}
SEEDS=${SEEDS:-0 1 2}
PYTHON=${PYTHON:-python}
train() { "$PYTHON" train.py --data "$DATA" --no-progress "$@"; }
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
  for labels in 20 all; do
    local n=$labels && [ "$labels" = all ] && n=0
    for seed in $SEEDS; do
      for init in random "$R/pretrain-split_brain"; do
        train --stage finetune --init "$init" --labels-per-class $n --seed $seed \
          --feature-layer conv3 --feature-dims 9216 --learning-rate 3e-4 --epochs 30 \
          --patience 8 --out "$R/finetune-$(basename "$init")-$labels-s$seed"
      done
    done
  done
}

for phase in "${@:-ablation budget finetune}"; do
  for step in $phase; do $step; done
done

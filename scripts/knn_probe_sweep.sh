#!/usr/bin/env bash
# kNN probe (k=20) of the simple split-brain pair against random initialisation, at 20 and 200
# labels per class, three seeds each (label draw and, for random, the weights), then a table.
# Usage: DATA=../shared/data/imagenette96 bash scripts/knn_probe_sweep.sh [RUNS_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:?set DATA to an ssl_data_96-style folder}
R=${1:-runs/knn-sweep}
python train.py --stage pretrain --data "$DATA" --epochs 10 --out "$R/pretrain-simple" \
    --no-progress --no-previews
for n in 20 200; do
  for seed in 0 1 2; do
    python train.py --stage knn --data "$DATA" --init "$R/pretrain-simple" \
        --labels-per-class $n --seed $seed --out "$R/knn-pretrained-$n-s$seed"
    python train.py --stage knn --data "$DATA" --init random \
        --labels-per-class $n --seed $seed --out "$R/knn-random-$n-s$seed"
  done
done
python scripts/knn_summary.py "$R"

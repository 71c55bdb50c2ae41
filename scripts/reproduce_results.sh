#!/usr/bin/env bash
# Every run behind the README's results table, in order; finished runs are skipped, an
# interrupted one resumes. DATA defaults to the imagenette96 copy beside this repo.
# Print the table afterwards with: python scripts/results_table.py runs/results
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/imagenette96}
R=runs/results
train() { python train.py --data "$DATA" --no-progress "$@"; }

train --stage pretrain --epochs 10 --out $R/pretrain-simple
for n in 200 20; do
  for init in $R/pretrain-simple random; do
    name=$(basename "$init")
    train --stage linprobe --init "$init" --labels-per-class $n --out $R/linprobe-simple-$name-$n
    train --stage finetune --init "$init" --labels-per-class $n --epochs 15 \
      --out $R/finetune-simple-$name-$n
  done
done

# A larger encoder within CPU reach: AlexNet at 1/8 width (2.4M parameters for the pair).
train --stage pretrain --encoder alex --width 0.125 --epochs 5 --out $R/pretrain-alex
for n in 200 20; do
  train --stage linprobe --init $R/pretrain-alex --labels-per-class $n \
    --feature-layer conv5 --out $R/linprobe-alex-pretrain-alex-$n
  train --stage linprobe --init random --encoder alex --width 0.125 --labels-per-class $n \
    --feature-layer conv5 --out $R/linprobe-alex-random-$n
done

# Choosing the defaults: the linear probe's feature layer on the same pretrained pair ...
for layer in conv2 conv4 logits; do
  train --stage linprobe --init $R/pretrain-simple --labels-per-class 200 \
    --feature-layer $layer --out $R/linprobe-simple-pretrain-simple-200-$layer
done
# ... and the paper's targets (50 L bins, 261 in-gamut ab classes) against the seed's.
train --stage pretrain --epochs 10 --l-bins 50 --ab-bins gamut --out $R/pretrain-simple-gamut
train --stage linprobe --init $R/pretrain-simple-gamut --labels-per-class 200 \
  --out $R/linprobe-simple-pretrain-simple-gamut-200
# ... and the fine-tuning head.
train --stage finetune --init $R/pretrain-simple --labels-per-class 200 --epochs 15 --head mlp \
  --out $R/finetune-simple-pretrain-simple-200-mlp

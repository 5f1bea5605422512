#!/usr/bin/env bash
# Release model pipeline (issue 3): data, records, training. Run from the repository root:
#   nohup bash tools/train_release.sh > runs/release.log 2>&1 &   (R=DIR to put the run elsewhere)
# Every stage is skipped when its output exists; training resumes from the last checkpoint.
set -euo pipefail
R=${R:-runs/release}
if [ ! -f $R/data/gen_config.json ]; then
  crnn-toolkit gen-images --output-dir $R/data --num-images 150000 --workers 2 --seed 1 \
      --augment robust --min-chars 4 --max-chars 16
fi
if [ ! -f $R/rec/metadata.json ]; then
  crnn-toolkit write-tfrecords --dataset-dir $R/data --char-dict-dir char_dict --save-dir $R/rec
fi
crnn-toolkit train-shadownet --dataset-dir $R/rec --char-dict-dir char_dict --model-dir $R/model \
    --model-size small --precision mixed_bfloat16 --steps 40000 --warmup-steps 300 \
    --checkpoint-every 250 --eval-every 1000 --seed 1

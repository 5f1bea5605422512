#!/usr/bin/env bash
# Release model v2 (issue 17): the general charset (Song ci chars + GB2312 + ASCII + full-width
# punctuation + CJK punctuation + symbols, char_dict/), the mixed corpus (corpora/mix.json), the
# font library's training faces (fonts/, never fonts/heldout/) and the `real` degradations, trained
# by fine-tuning the v1 bundled model (model/shadownet, `small`, 6,016 chars) with --init-from.
# Run from the repository root:
#   nohup bash tools/train_release_v2.sh > runs/release_v2.log 2>&1 &   (R=DIR to put the run elsewhere)
#   MINUTES=150 bash tools/train_release_v2.sh    (a session of at most 150 minutes of training)
# Every stage is skipped when its output exists; training resumes from the last checkpoint
# (--init-from only applies to the first run into an empty model directory).
#
# Stage 1: 150,000 images (seed 11), fine-tune from the bundled model, all layers trained, the
#   fine-tuning peak learning rate and warm-up (toolkit.checkpoints.FINETUNE_LEARNING_RATE) over a
#   40,000-step cosine schedule, stopped at step 15,000 for new data.
# Stage 2: 150,000 new images (seed 12), same schedule, to step 30,000.
# Stage 3: 150,000 new images (seed 13), same schedule, to step 40,000.
# The stage boundaries are plans: record where each stage really stopped in this header, as the v1
# script does, when the run is released (tools/release_model.py writes RELEASE.json).
#
# Environment: R (run folder), STEPS (schedule length, stages at 3/8 and 3/4 of it), IMAGES (per
# stage), PRECISION (default auto: see train-shadownet --precision), MINUTES (wall minutes this
# invocation may train, counted from its start: a time-boxed session; training stops with a
# checkpoint and the script exits, and running it again resumes the stage).
set -euo pipefail
R=${R:-runs/release_v2}
STEPS=${STEPS:-40000}
IMAGES=${IMAGES:-150000}
MINUTES=${MINUTES:-}
mkdir -p "$R"

# data N SEED: $IMAGES images in $R/dataN and their TFRecords in $R/recN, unless they exist.
data() {
  if [ ! -f "$R/data$1/gen_config.json" ]; then
    crnn-toolkit gen-images --output-dir "$R/data$1" --num-images "$IMAGES" --workers 2 --seed "$2" \
        --corpus-config corpora/mix.json --add-set all --augment real --max-chars 24
  fi
  if [ ! -f "$R/rec$1/metadata.json" ]; then
    crnn-toolkit write-tfrecords --dataset-dir "$R/data$1" --char-dict-dir char_dict --save-dir "$R/rec$1"
  fi
}
# train N END: train on $R/recN up to step END (resumes from the latest checkpoint); with MINUTES,
# for what is left of them, and the script ends there if the stage did not reach END.
train() {
  local limit=()
  if [ -n "$MINUTES" ]; then
    local left=$(( MINUTES - SECONDS / 60 ))
    if [ "$left" -le 0 ]; then echo "MINUTES=$MINUTES used up before stage $1: run again to resume"; exit 0; fi
    limit=(--time-limit "$left")
  fi
  crnn-toolkit train-shadownet --dataset-dir "$R/rec$1" --char-dict-dir char_dict --model-dir "$R/model" \
      --init-from bundled --model-size small --precision "${PRECISION:-auto}" --steps "$2" \
      --decay-steps "$STEPS" --checkpoint-every 250 --eval-every 1000 --seed 1 "${limit[@]}"
  local step
  step=$(sed -n 's/^model_checkpoint_path: "ckpt-\([0-9]*\)"$/\1/p' "$R/model/checkpoints/checkpoint")
  if [ "${step:-0}" -lt "$2" ]; then
    echo "stage $1 stopped at step ${step:-0} of $2 (MINUTES=$MINUTES): run again to resume"; exit 0
  fi
}
data 1 11
[ -f "$R/stage2.started" ] || train 1 $((STEPS * 3 / 8))
data 2 12
touch "$R/stage2.started"
[ -f "$R/stage3.started" ] || train 2 $((STEPS * 3 / 4))
data 3 13
touch "$R/stage3.started"
train 3 "$STEPS"

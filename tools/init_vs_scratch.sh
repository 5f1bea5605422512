#!/usr/bin/env bash
# Fine-tuning from the bundled model against training from scratch, at equal CPU time (issue 17):
# three runs of MINUTES wall minutes each on the stage-1 data of tools/train_release_v2.sh
# ($R/rec1 with $R/rrec1 mixed in at REHEARSAL), one after another so that each has the CPU alone:
#   finetune        --init-from INIT (a `small` model), peak learning rate 1e-3, warm-up 50
#   scratch-small   random weights, `small`, the train-shadownet defaults (1e-3, warm-up 200)
#   scratch-large   random weights, `shadownet` (the full-size model), the same defaults
# All use one cosine schedule planned for STEPS steps, batch 32, float32, seed 1, so each stops
# part way down the same schedule. Then `compare --engines toolkit` scores the last checkpoint of
# each on every LABELS file (space-separated list of label files: the held-out sets).
# Run from the repository root after stage 1's data exists, e.g.
#   R=runs/release_v2 MINUTES=12 LABELS="eval/pillow.txt eval-yuanqu/pillow.txt" bash tools/init_vs_scratch.sh
# Stopped part way (the machine went away), the same command resumes: each run continues from its
# last checkpoint for what is left of its MINUTES (see run below).
# Environment: R, MINUTES (default 12), STEPS (default 8000), REHEARSAL (default 0.4), INIT
# (default bundled), LABELS (required), OUT (default $R/init_vs_scratch).
set -euo pipefail
R=${R:-runs/release_v2}
MINUTES=${MINUTES:-12}
STEPS=${STEPS:-8000}
REHEARSAL=${REHEARSAL:-0.4}
INIT=${INIT:-bundled}
OUT=${OUT:-$R/init_vs_scratch}
: "${LABELS:?LABELS: the held-out label files to score the three runs on}"
for d in "$R/rec1" "$R/rrec1"; do
  [ -f "$d/metadata.json" ] || { echo "$d: no records; run tools/train_release_v2.sh first" >&2; exit 2; }
done
mkdir -p "$OUT"
common=(--dataset-dir "$R/rec1" --char-dict-dir char_dict --mix "$R/rrec1:$REHEARSAL"
        --precision float32 --steps "$STEPS" --decay-steps "$STEPS" --checkpoint-every 250
        --eval-every 500 --seed 1)
# run NAME ARGS...: train NAME for what is left of its MINUTES. $OUT/NAME.seconds holds the wall
# seconds it has trained so far (rewritten every 2 s while it runs, so a run killed with the
# machine loses at most that much of its account), and a resumed run gets only the rest; NAME.done
# marks a run that has had all its time.
run() {
  local name=$1; shift
  [ -f "$OUT/$name.done" ] && return 0
  local used=0
  [ -f "$OUT/$name.seconds" ] && used=$(cat "$OUT/$name.seconds")
  local left=$(( MINUTES * 60 - used ))
  if [ "$left" -gt 0 ]; then
    local start=$SECONDS
    crnn-toolkit train-shadownet --model-dir "$OUT/$name" "${common[@]}" \
        --time-limit "$(awk "BEGIN { print $left / 60 }")" "$@" >> "$OUT/$name.log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      echo $(( used + SECONDS - start )) > "$OUT/$name.seconds"
      sleep 2
    done
    wait "$pid"
    echo $(( used + SECONDS - start )) > "$OUT/$name.seconds"
  fi
  touch "$OUT/$name.done"
}
run finetune --init-from "$INIT" --model-size small --learning-rate 1e-3
run scratch-small --model-size small
run scratch-large --model-size shadownet
args=()
for f in $LABELS; do args+=(--labels "$f"); done
for name in finetune scratch-small scratch-large; do
  step=$(sed -n 's/^model_checkpoint_path: "ckpt-\([0-9]*\)"$/\1/p' "$OUT/$name/checkpoints/checkpoint")
  echo "## $name: step $step after $MINUTES minutes" | tee -a "$OUT/results.md"
  crnn-toolkit compare --engines toolkit --weights-path "$OUT/$name" "${args[@]}" \
      --output "$OUT/$name.md" > /dev/null 2>&1
  grep '^| ' "$OUT/$name.md" | tee -a "$OUT/results.md"
done

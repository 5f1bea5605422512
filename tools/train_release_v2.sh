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
# Rehearsal: every stage also makes a set like v1's training data (the Song ci corpus, the four
# Noto faces v1 was trained on, the robust preset with tools/release_phase6_synth.json, v1's last
# stage) and trains on it as REHEARSAL of the examples (train-shadownet --mix), at a peak learning
# rate of LR: a trial without either (3e-3, 80 minutes) read the new chars but had tripled v1's CER
# on the Yuan qu regression set (0.063 -> 0.189).
#
# Release v2.0 (model/shadownet/RELEASE.json) is stages 1-3 of
#   R=runs/release_v2 IMAGES=40000 STEPS=8000 STAGES=3 PRECISION=float32 bash tools/train_release_v2.sh
# (40,000 images per set and stage; stage 1 stopped at step 3,000, stage 2 at 6,000, stage 3 at
# 8,000, the end of the schedule), on a 2-core Intel Xeon with AMX, float32, about 2.4 hours. It
# started from v1, and corpora/mix.json has changed since (the identifier kind): to reproduce it,
# run this script as of the release commit, from v1 as it was committed:
#   git worktree add /tmp/v2 d8a0a52 && git worktree add /tmp/v1 e1fd2ad && cd /tmp/v2 &&
#   PYTHONPATH=/tmp/v2 INIT=/tmp/v1/model/shadownet R=... IMAGES=40000 STEPS=8000 PRECISION=float32 \
#       bash tools/train_release_v2.sh     (PYTHONPATH: that commit's toolkit, not the installed one)
# Release v2.1 continued from v2.0 with the mix of commit 1b17b00:
#   R=runs/release_v21 IMAGES=30000 STEPS=6000 LR=5e-4 PRECISION=float32 INIT=<v2.0> bash tools/train_release_v2.sh
# (stage 1 stopped at step 2,250, stage 2 at 4,500, stage 3 at 6,000; 2-core AMD EPYC, float32,
# about 2.1 hours with all data; RELEASE.json has the worktree commands that reproduce it).
# Release v2.2 continued from v2.1 with the code and mix of commit 44b7957:
#   R=runs/release_v22 IMAGES=24000 STEPS=4500 LR=5e-4 REHEARSAL=0.25 CLEAN=0.3 SEED=30 PRECISION=float32 \
#       INIT=<v2.1> bash tools/train_release_v2.sh
# (first run with STEPS=6000, stopped at step 2,011 and resumed with STEPS=4500: stage 1 had passed
# 1,687, stage 2 stopped at 3,375, stage 3 was stopped by MINUTES at step 4,254 of 4,500, the
# release; 2-core AMD EPYC, float32, about 3.4 hours with all data; RELEASE.json has the commands).
# Release v2.3 continued from v2.2 with the code and mix of commit d580b6a:
#   R=runs/release_v23 IMAGES=20000 STEPS=4400 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=50 PRECISION=float32 \
#       INIT=<v2.2> bash tools/train_release_v2.sh
# (one invocation with MINUTES=118: stages to 1,650 / 3,300 / 4,400, all reached, ckpt-4400 the
# release; 2-core AMD EPYC, float32, about 1.85 hours with all data; RELEASE.json has the commands).
# Release v2.4 continued from v2.3 with the code and mix of commit bd1b43e:
#   R=runs/release_v24 IMAGES=20000 STEPS=4400 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=70 PRECISION=float32 \
#       INIT=<v2.3> bash tools/train_release_v2.sh
# (one invocation with MINUTES=110: stages to 1,650 / 3,300 reached, stage 3 stopped at step 4,370 of
# 4,400, ckpt-4370 the release; 2-core AMD EPYC, float32, about 1.83 hours with all data).
# Release v2.5 continued from v2.4 with the code and mix of commit 663cde5:
#   R=runs/release_v25 IMAGES=40000 STEPS=13000 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=90 PRECISION=float32 \
#       INIT=<v2.4> bash tools/train_release_v2.sh
# (stage 1's data made by a first invocation with STEPS=10000, stopped after 4 minutes of training and
# its model directory deleted; then one invocation with MINUTES=95: stages to 4,875 / 9,750 / 13,000,
# all reached, ckpt-13000 the release; 2-core AMD EPYC of CPU family 26, float32, about 1.47 hours
# with all data).
# Release v2.6 continued from v2.5 with the code and mix of commit bdf03ef:
#   R=runs/release_v26 IMAGES=40000 STEPS=13000 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=110 PRECISION=float32 \
#       INIT=<v2.5> MINUTES=95 bash tools/train_release_v2.sh
# (one invocation: stages to 4,875 / 9,750 / 13,000, all reached, ckpt-13000 the release; 2-core AMD
# EPYC of CPU family 26, float32, about 1.36 hours of training, 1.52 hours with all data).
# Release v2.7 continued from v2.6 with the code and mix of commit 4ccad00:
#   R=runs/release_v27 IMAGES=40000 STEPS=13000 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=130 LATIN=0.5 \
#       HALFWIDTH=0.3 PRECISION=float32 INIT=<v2.6> MINUTES=95 bash tools/train_release_v2.sh
# (two invocations of that command: the first stopped at step 1,890 of stage 1, the second resumed
# from ckpt-1750: stages to 4,875 / 9,750 / 13,000, all reached, ckpt-13000 the release; 2-core AMD
# EPYC of CPU family 26, float32, about 1.55 hours wall in all with all data).
# Release v2.8 (the bundled model now) continued from v2.7 with the code and mix of commit 425dfe4:
#   R=runs/release_v28 IMAGES=40000 STEPS=13000 LR=5e-4 REHEARSAL=0.25 CLEAN=0.4 SEED=150 LATIN=0.5 \
#       HALFWIDTH=0.3 PRECISION=float32 INIT=<v2.7> MINUTES=95 bash tools/train_release_v2.sh
# (two invocations of that command: the first stopped at step 761 of stage 1, the second resumed
# from ckpt-750: stages to 4,875 / 9,750 / 13,000, all reached, ckpt-13000 the release; 2-core AMD
# EPYC of CPU family 26, float32, about 1.5 hours wall in all with all data).
# (INIT, default bundled: the model the first stage fine-tunes from.)
#
# Stage 1: IMAGES images (seed SEED+1, default 11) and IMAGES rehearsal images (seed SEED+11), fine-tune
#   from INIT, all layers trained, warm-up 50 steps, a STEPS-step cosine schedule, to step 3/8 STEPS.
# Stage 2: new images (seeds SEED+2, SEED+12), same schedule, to step 3/4 STEPS.
# Stage 3: new images (seeds SEED+3, SEED+13), same schedule, to STEPS.
# The stage boundaries are plans: record where each stage really stopped in this header, as the v1
# script does, when the run is released (tools/release_model.py writes RELEASE.json).
#
# Environment: R (run folder), STEPS (schedule length, stages at 3/8 and 3/4 of it), IMAGES (per
# stage, for each of the two sets), REHEARSAL (share of the rehearsal set, default 0.4), LR (peak
# learning rate, default 1e-3), PRECISION (default float32: on a CPU with AMX-BF16, mixed_bfloat16,
# which --precision auto picks there, made this fine-tune collapse to empty output between steps
# 700 and 1,000 (validation CER 1.0 at step 1,000; float32 with the same data, seed and settings:
# 0.638), CLEAN (share of a third set per stage: the corpus mix and faces of dataN in the `robust`
# preset, without the `real` degradations, seed SEED+21.., default 0: none), SEED (seed base, default
# 10), LATIN (SynthConfig.latin_face_prob of the mix and clean sets: the chance that a line's ASCII
# chars are drawn in a Latin text face of fonts/latin/; default 0; v2.7, v2.8: 0.5),
# HALFWIDTH (SynthConfig.halfwidth_punct_prob of the same sets: the chance that a text's full-width
# punctuation is written in its ASCII form; default 0; v2.7, v2.8: 0.3),
# STAGES (how many stages to run, default 3), MINUTES (wall minutes this
# invocation may train, counted from its start: a time-boxed session; training stops with a
# checkpoint and the script exits, and running it again resumes the stage).
set -euo pipefail
R=${R:-runs/release_v2}
STEPS=${STEPS:-40000}
IMAGES=${IMAGES:-150000}
MINUTES=${MINUTES:-}
STAGES=${STAGES:-3}
INIT=${INIT:-bundled}
REHEARSAL=${REHEARSAL:-0.4}
CLEAN=${CLEAN:-0}
SEED=${SEED:-10}
LR=${LR:-1e-3}
LATIN=${LATIN:-0}
HALFWIDTH=${HALFWIDTH:-0}
mkdir -p "$R"
# above_zero X: whether X is a number above 0 (0, 0.0 and 0.00 all mean off).
above_zero() { awk -v c="$1" 'BEGIN { exit !(c + 0 > 0) }'; }
# With LATIN or HALFWIDTH, the mix and clean sets get both as SynthConfig fields over the preset
# ($R/synth.json); gen-images then adds fonts/latin/ to its default faces when LATIN is above 0.
SYNTH_ARGS=()
if above_zero "$LATIN" || above_zero "$HALFWIDTH"; then
  awk -v a="$LATIN" -v b="$HALFWIDTH" \
      'BEGIN { printf "{\"latin_face_prob\": %g, \"halfwidth_punct_prob\": %g}\n", a, b }' > "$R/synth.json"
  SYNTH_ARGS=(--config "$R/synth.json")
fi
V1_FONTS=(--font fonts/NotoSansSC-Regular.otf --font fonts/NotoSansSC-Bold.otf
          --font fonts/NotoSerifSC-Regular.otf --font fonts/NotoSerifSC-Bold.otf)

# mix_images DIR SEED PRESET: $IMAGES images of corpora/mix.json in the training faces (fonts/, and
# with LATIN the Latin faces of fonts/latin/), drawn with the augmentation preset PRESET (and
# $R/synth.json over it), unless DIR has them.
mix_images() {
  [ -f "$1/gen_config.json" ] || crnn-toolkit gen-images --output-dir "$1" --num-images "$IMAGES" \
      --workers 2 --seed "$2" --corpus-config corpora/mix.json --add-set all --augment "$3" --max-chars 24 \
      "${SYNTH_ARGS[@]}"
}
# records DIR OUT: the TFRecords of DIR's images in OUT, unless OUT has them.
records() {
  [ -f "$2/metadata.json" ] || crnn-toolkit write-tfrecords --dataset-dir "$1" --char-dict-dir char_dict \
      --save-dir "$2"
}
# clean_on: whether CLEAN is a share above 0 (CLEAN=0, 0.0 and 0.00 all mean no third set).
clean_on() { above_zero "$CLEAN"; }
# data N SEED: $IMAGES images in $R/dataN and their TFRecords in $R/recN, and $IMAGES rehearsal
# images (seed SEED+10) in $R/rehearsalN and $R/rrecN, unless they exist; with CLEAN > 0, also
# $IMAGES images of the same corpus mix and faces in the milder `robust` preset (seed SEED+20) in
# $R/cleanN and $R/crecN.
data() {
  mix_images "$R/data$1" "$2" real
  if [ ! -f "$R/rehearsal$1/gen_config.json" ]; then
    crnn-toolkit gen-images --output-dir "$R/rehearsal$1" --num-images "$IMAGES" --workers 2 \
        --seed $(( $2 + 10 )) --augment robust --config tools/release_phase6_synth.json "${V1_FONTS[@]}"
  fi
  records "$R/data$1" "$R/rec$1"
  records "$R/rehearsal$1" "$R/rrec$1"
  if clean_on; then
    mix_images "$R/clean$1" $(( $2 + 20 )) robust
    records "$R/clean$1" "$R/crec$1"
  fi
}
# train N END: train on $R/recN up to step END (resumes from the latest checkpoint); with MINUTES,
# for what is left of them, and the script ends there if the stage did not reach END.
train() {
  local limit=() clean=()
  if clean_on; then clean=(--mix "$R/crec$1:$CLEAN"); fi
  if [ -n "$MINUTES" ]; then
    local left=$(( MINUTES - SECONDS / 60 ))
    if [ "$left" -le 0 ]; then echo "MINUTES=$MINUTES used up before stage $1: run again to resume"; exit 0; fi
    limit=(--time-limit "$left")
  fi
  crnn-toolkit train-shadownet --dataset-dir "$R/rec$1" --char-dict-dir char_dict --model-dir "$R/model" \
      --mix "$R/rrec$1:$REHEARSAL" "${clean[@]}" --init-from "$INIT" --model-size small --learning-rate "$LR" \
      --precision "${PRECISION:-float32}" --steps "$2" \
      --decay-steps "$STEPS" --checkpoint-every 250 --eval-every 1000 --seed 1 "${limit[@]}"
  local step
  step=$(sed -n 's/^model_checkpoint_path: "ckpt-\([0-9]*\)"$/\1/p' "$R/model/checkpoints/checkpoint")
  if [ "${step:-0}" -lt "$2" ]; then
    echo "stage $1 stopped at step ${step:-0} of $2 (MINUTES=$MINUTES): run again to resume"; exit 0
  fi
}
data 1 $(( SEED + 1 ))
[ -f "$R/stage2.started" ] || train 1 $((STEPS * 3 / 8))
data 2 $(( SEED + 2 ))
touch "$R/stage2.started"
[ -f "$R/stage3.started" ] || train 2 $((STEPS * 3 / 4))
if [ "$STAGES" -le 2 ]; then echo "STAGES=$STAGES: stopped after stage 2"; exit 0; fi
data 3 $(( SEED + 3 ))
touch "$R/stage3.started"
train 3 "$STEPS"

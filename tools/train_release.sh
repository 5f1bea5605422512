#!/usr/bin/env bash
# Release model pipeline (issue 3): data, records, training, in six stages. Run from the repository
# root:   nohup bash tools/train_release.sh > runs/release.log 2>&1 &   (R=DIR to put the run elsewhere)
# Every stage is skipped when its output exists; training resumes from the last checkpoint.
#
# Stage 1 (steps 0-11,453): 150,000 images with the robust preset as it was then, whose vertical
# margins were tight (0-0.15 em); tools/release_phase1_synth.json holds those exact settings (it is
# the stage's gen_config.json "config"). The run is told the whole 40,000-step schedule
# (--decay-steps) and stops at 11,453 (where the release run was stopped with SIGTERM).
# Stage 2 (steps 11,453-17,543): 150,000 new images (seed 2) with loose vertical crops (margins
# 0-0.5 em; tools/release_phase2_synth.json): at step 11,000 the held-out lines whose ink filled under
# 60% of the line height had 1.5-2.5x the CER of tight ones. Same model directory, same schedule.
# Stage 3 (steps 17,543-30,000): 150,000 new images (seed 3) with today's robust preset, which adds
# glyph shape warps (half of the lines): at step 17,000 the held-out lines in an unseen Kai face had
# 4-10x the CER of the other unseen faces. The schedule is shortened to end at step 30,000
# (--decay-steps 29700 replaces the saved 39,700), so the run ends within the CPU time we had.
# (tools/release_phase3_synth.json pins that stage's settings: the robust preset has changed since.)
# Stage 4 (steps 30,000-40,000): 150,000 new images (seed 4) with today's robust preset, which warps
# more lines and adds Kai-like rising strokes: at step 30,000 the unseen Kai face still had CER
# 0.30-0.32 against 0.03-0.09 for the other unseen faces. A new cosine schedule (--decay-steps 41700,
# planned for 42,000 steps) restarts the learning rate at 23% of its peak; the run was stopped at
# step 40,000 (learning rate then 5.5% of its peak, the floor being 5%) to leave time for the checks.
# (tools/release_phase4_synth.json pins that stage's settings, its gen_config.json "config".)
# Stage 5 (steps 40,000-42,726): 150,000 new images (seed 5) with stage 4's settings: at step
# 40,000 the held-out and validation CER were still falling. Planned to step 50,000 (--decay-steps
# 50700, restarting at 16% of the peak); stopped with SIGTERM at 42,726 for stage 6.
# Stage 6 (steps 42,726-52,000): 150,000 new images (seed 6) with the robust preset of today, which
# adds centred corner punctuation (30% of the lines) and question marks (15% of the texts with a 。;
# tools/release_phase6_synth.json): 23% of the held-out Pillow part's errors at step 40,000 were
# line-final punctuation. A new cosine schedule (--decay-steps 52700, planned for 52,000 steps) from
# 14% of the peak; the run was stopped at step 51,000 (5.3% of the peak) to leave time for the checks.
set -euo pipefail
R=${R:-runs/release}
STAGE1_END=11453
STAGE2_END=17543
STAGE4_END=40000
STAGE5_END=42726

# data N SEED SETTINGS: 150,000 images in $R/dataN and their TFRecords in $R/recN, unless they exist.
data() {
  if [ ! -f $R/data$1/gen_config.json ]; then
    crnn-toolkit gen-images --output-dir $R/data$1 --num-images 150000 --workers 2 --seed $2 \
        --augment robust --config $3
  fi
  if [ ! -f $R/rec$1/metadata.json ]; then
    crnn-toolkit write-tfrecords --dataset-dir $R/data$1 --char-dict-dir char_dict --save-dir $R/rec$1
  fi
}
# train N END [OPTIONS]: train on $R/recN up to step END (resumes from the latest checkpoint).
train() {
  local n=$1 end=$2
  shift 2
  crnn-toolkit train-shadownet --dataset-dir $R/rec$n --char-dict-dir char_dict --model-dir $R/model \
      --model-size small --precision mixed_bfloat16 --steps $end --warmup-steps 300 \
      --checkpoint-every 250 --eval-every 1000 --seed 1 "$@"
}
# A stage is done once the next stage has started (its marker file exists).
data "" 1 tools/release_phase1_synth.json
[ -f $R/stage2.started ] || train "" $STAGE1_END --decay-steps 39700
data 2 2 tools/release_phase2_synth.json
touch $R/stage2.started
[ -f $R/stage3.started ] || train 2 $STAGE2_END
data 3 3 tools/release_phase3_synth.json
touch $R/stage3.started
[ -f $R/stage4.started ] || train 3 30000 --decay-steps 29700
data 4 4 tools/release_phase4_synth.json
touch $R/stage4.started
[ -f $R/stage5.started ] || train 4 $STAGE4_END --decay-steps 41700
data 5 5 tools/release_phase4_synth.json
touch $R/stage5.started
[ -f $R/stage6.started ] || train 5 $STAGE5_END --decay-steps 50700
data 6 6 tools/release_phase6_synth.json
touch $R/stage6.started
train 6 51000 --decay-steps 52700

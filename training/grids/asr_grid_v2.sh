#!/usr/bin/env bash
# The Whisper grid again on corpus v2 (make corpus-v2: news, WordNet and ACLSum sentences by 12
# training voices of 4 engines, noise, telephone band, rooms), scored on the v2 test split (4
# voices and all texts unseen in training) and on the real-speech set (make real-speech: 560
# clips of human speech). The recipe is the espeak grid's (asr_grid.sh): 100 optimizer steps of
# 8 clips, the same rates and evaluation; only the corpus differs, so each cell sits beside its
# espeak-only twin (asr-<model>-<mode>-sci). 400 training clips, 2 epochs: the same steps and
# examples seen as the espeak grid's 200 x 4, with twice the distinct clips, drawn at random
# (--sample-seed 0: the manifest is sorted by source) and the same in every run.
#
#   bash training/grids/asr_grid_v2.sh           # resumable: finished runs are skipped
#   SIZES="tiny.en" bash training/grids/asr_grid_v2.sh
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS_V2:-data/corpus-v2}
SIZES=${SIZES:-"tiny.en base"}
# Scoring is most of a run's time on a shared 2-core CPU (~3 s a clip): 24 validation clips, 80
# test clips (~1,200 words) and 200 real-speech clips (~1,100 words) drawn with the same seed for
# every run, scored at the end; the untrained model once per size (its full run scores them
# before training as well).
REAL_CLIPS=${REAL_CLIPS:-200}
COMMON=(--epochs 2 --max-train-samples 400 --max-val-samples 24 --max-test-samples 80
  --batch-size 8 --eval-batch-size 8 --max-new-tokens 64 --device cpu
  --real-speech-clips "$REAL_CLIPS" --sample-seed 0)
[ -f "$CORPUS/manifest.jsonl" ] || { echo "No corpus v2 at $CORPUS: run make corpus-v2." >&2; exit 2; }

run() {  # run <run-id> <flags...>: one resumable run on corpus v2 (training/grids/lib.sh)
  local id=$1; shift
  run_one training.train_asr "$id" --train "$CORPUS/manifest.jsonl" "${COMMON[@]}" "$@"
}

for model in $SIZES; do
  run "asr-$model-full-v2" --model "$model" --method full --precision fp32 --eval-more-at-start
  if [ "$model" = base ]; then
    # base: full fine-tuning and its best PEFT cell of the espeak grid (int8 LoRA) only.
    run "asr-base-int8-lora-v2" --model base --method lora --precision int8 --no-eval-more-at-start
    continue
  fi
  for precision in int8 nf4; do
    for method in lora adalora; do
      run "asr-$model-$precision-$method-v2" --model "$model" --method "$method" \
        --precision "$precision" --no-eval-more-at-start
    done
  done
done

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
#   bash training/grids/asr_v2_grid.sh           # resumable: finished runs are skipped
#   SIZES="tiny.en" bash training/grids/asr_v2_grid.sh
#   SIZES=tiny.en FULL=0 PRECISIONS=nf4 bash ...   # a second process on other cells
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
CORPUS=${CORPUS_V2:-data/corpus-v2}
SIZES=${SIZES:-"tiny.en base"}
PRECISIONS=${PRECISIONS:-"int8 nf4"}  # the PEFT cells' quantized bases
FULL=${FULL:-1}                       # 0: leave the full fine-tuning runs to another process
RESCORE=${RESCORE:-1}                 # 0: leave the rescoring (below) to another process
# Scoring is most of a run's time on a shared 2-core CPU (~3 s a clip): 24 validation clips, 80
# test clips (~1,200 words) and 200 real-speech clips (~1,100 words) drawn with the same seed for
# every run, scored at the end only: the untrained models and the espeak grid's cells are scored
# on the same clips by bench.rescore (the last command below), with the same evaluation code.
REAL_CLIPS=${REAL_CLIPS:-200}
COMMON=(--epochs 2 --max-train-samples 400 --max-val-samples 24 --max-test-samples 80
  --batch-size 8 --eval-batch-size 8 --max-new-tokens 64 --device cpu
  --real-speech-clips "$REAL_CLIPS" --sample-seed 0)
# The corpus first (~15-20 min, 610 MB; `make corpus-v2` builds the same and copies its card).
[ -f "$CORPUS/manifest.jsonl" ] || "$PY" -m training.make_corpus_v2 --out "$CORPUS"

run() {  # run <run-id> <flags...>: one resumable run on corpus v2 (training/grids/lib.sh)
  local id=$1; shift
  run_one training.train_asr "$id" --train "$CORPUS/manifest.jsonl" "${COMMON[@]}" "$@"
}

for model in $SIZES; do
  if [ "$FULL" = 1 ]; then
    run "asr-$model-full-v2" --model "$model" --method full --precision fp32 --no-eval-more-at-start
  fi
  if [ "$model" = base ]; then
    # base: full fine-tuning and its best PEFT cell of the espeak grid (int8 LoRA) only.
    run "asr-base-int8-lora-v2" --model base --method lora --precision int8 --no-eval-more-at-start
    continue
  fi
  for precision in $PRECISIONS; do
    for method in lora adalora; do
      run "asr-$model-$precision-$method-v2" --model "$model" --method "$method" \
        --precision "$precision" --no-eval-more-at-start
    done
  done
done
# The espeak grid's twins (their adapters are in git; full fine-tunes are not) and the untrained
# models, on the same v2 test clips and real-speech clips.
[ "$RESCORE" = 1 ] || exit 0
for model in $SIZES; do
  twins=()
  for run_dir in checkpoints/asr-"$model"-*-sci; do
    [ -d "$run_dir/adapter" ] || [ -d "$run_dir/checkpoint-final" ] && twins+=("$run_dir")
  done
  "$PY" -m bench.rescore "${twins[@]}" --untrained --base "$model" --train "$CORPUS/manifest.jsonl" \
    --max-test-samples 80 --real-speech-clips "$REAL_CLIPS" --sample-seed 0 \
    --name "grid-v2-rescore-$model" --resume
done

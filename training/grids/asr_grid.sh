#!/usr/bin/env bash
# The thesis's Whisper fine-tuning grid at CPU scale: tiny.en and base x full fine-tuning,
# LoRA and AdaLoRA on int8 and NF4 bases, on real scientific English (ACLSum sentences) spoken
# by espeak-ng (en-us, en-gb, fr voices, three speeds, noise at 10/20 dB or none), plus the
# learning-rate check of Table 4.1 (int8+LoRA at a 40x smaller rate).
#
#   bash training/grids/asr_grid.sh              # resumable: finished runs are skipped
#   SIZES="tiny.en" bash training/grids/asr_grid.sh
#
# Each run folder lands in checkpoints/ with the exact command in its run.json.
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
SIZES=${SIZES:-"tiny.en base"}
EPOCHS=${EPOCHS:-4}
COMMON=(--epochs "$EPOCHS" --batch-size 8 --eval-batch-size 8 --max-new-tokens 64 --device cpu)

sentence_corpus "$CORPUS" 200

run() {  # run <run-id> <flags...>: one resumable run on the corpus (training/grids/lib.sh)
  local id=$1; shift
  run_one training.train_asr "$id" --train "$CORPUS/manifest.jsonl" "${COMMON[@]}" "$@"
}

for model in $SIZES; do
  run "asr-$model-full-sci" --model "$model" --method full --quant fp32
  for precision in int8 nf4; do
    for method in lora adalora; do
      # base AdaLoRA peaks at ~16 GB on int8 (its 30 s inputs' activations in every adapted
      # layer): two of them side by side fit in 23 GB only with gradient checkpointing, which
      # the report marks, since it changes their time and memory (results/report_grid.py).
      memory=()
      if [ "$model" = base ] && [ "$method" = adalora ]; then memory=(--gradient-checkpointing); fi
      run "asr-$model-$precision-$method-sci" --model "$model" --method "$method" \
        --quant "$precision" "${memory[@]}"
    done
  done
done
# Table 4.1's claim: quantized bases need a ~40x smaller rate (1e-3 / 40 = 2.5e-5).
run "asr-tiny.en-int8-lora-sci-lr2.5e-5" --model tiny.en --method lora --quant int8 --lr 2.5e-5

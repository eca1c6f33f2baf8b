#!/usr/bin/env bash
# The thesis's summarizer grid (Tables 3.3/3.4, Figures 3.1-3.3) at CPU scale on real weights
# and real data: SmolLM2-135M-Instruct (bundled) on ACLSum (abstract -> the three expert aspect
# sentences), full fine-tuning, LoRA at r in {1..64}, AdaLoRA, LoRA on int8 and NF4 bases.
# Validation ROUGE every epoch on VAL_SAMPLES papers; the trained model on TEST_SAMPLES test
# papers at the end. The zero-shot model is scored once on the same test papers by
# bench.summarize, not again by every run (--no-eval-more-at-start).
#
#   bash training/grids/summarizer_grid.sh          # resumable: finished runs are skipped
#   RUNS="lora-r8 full" bash training/grids/summarizer_grid.sh
#
# Each run folder lands in checkpoints/ with the exact command in its run.json.
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
MODEL=${MODEL:-smollm2-135m}
EPOCHS=${EPOCHS:-2}
VAL_SAMPLES=${VAL_SAMPLES:-10}
TEST_SAMPLES=${TEST_SAMPLES:-40}
# Most informative first, so a grid cut short still shows the method comparison.
# adalora-r8-lr3e-3: AdaLoRA at 3x the rate (at 1e-3 it stayed at zero-shot level in 50 steps).
RUNS=${RUNS:-"lora-r8 full lora-r1 lora-r64 adalora-r8 nf4-lora-r8 int8-lora-r8 lora-r2 lora-r4 lora-r16 lora-r32 adalora-r8-lr3e-3"}
COMMON=(--model "$MODEL" --dataset aclsum --epochs "$EPOCHS" --batch-size 4 --eval-batch-size 4
        --max-val-samples "$VAL_SAMPLES" --max-test-samples "$TEST_SAMPLES" --device cpu
        --no-eval-more-at-start)

flags() {  # flags <arm>: lora-r8, adalora-r8, nf4-lora-r8, int8-lora-r8, full; -lr<rate> after any
  local arm=${1%%-lr*} rate=""
  [ "$arm" != "$1" ] && rate=" --lr ${1##*-lr}"
  case $arm in
    full) echo "--method full --quant fp32$rate" ;;
    lora-r*) echo "--method lora --quant fp32 --r ${arm#lora-r}$rate" ;;
    adalora-r*) echo "--method adalora --quant fp32 --r ${arm#adalora-r}$rate" ;;
    int8-lora-r*|nf4-lora-r*) echo "--method lora --quant ${arm%%-*} --r ${arm##*-r}$rate" ;;
    *) echo "unknown arm $1" >&2; return 1 ;;
  esac
}

for arm in $RUNS; do
  # shellcheck disable=SC2046
  run_one training.train_summarizer "sum-$MODEL-aclsum-$arm" "${COMMON[@]}" $(flags "$arm")
done

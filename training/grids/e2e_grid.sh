#!/usr/bin/env bash
# The end-to-end speech -> summary model (demo.bridge.e2e): frozen tiny.en encoder -> Q-Former
# (Nq queries per 30 s window) -> frozen SmolLM2-135M-Instruct, trained first to transcribe the
# ASR grid's sentences, then (with LoRA r=8 on the LM) to give the ACLSum summary of each spoken
# abstract; then bench.e2e's oracle / cascade / E2E table on the abstract clips' test split.
#
#   bash training/grids/e2e_grid.sh              # resumable: finished runs are skipped
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
TALKS=${TALKS:-data/aclsum-talks}
NQ=${NQ:-32}

if [ ! -f "$TALKS/abstracts.jsonl" ]; then
  "$PY" -m training.make_speech_corpus --out "$TALKS" --source aclsum --num-utterances 1 \
    --val-clips 0 --test-clips 0 --abstract-clips --speeds 110,130,150 --abstract-min-seconds 30
fi
asr="e2e-asr-tiny.en-q$NQ"
sum="e2e-sum-tiny.en-q$NQ-r8"
run_one training.train_e2e "$asr" --stage e2e-asr --train "$CORPUS/manifest.jsonl" \
  --num-queries "$NQ" --epochs 3 --max-new-tokens 64
run_one training.train_e2e "$sum" --stage e2e-summary --train "$TALKS/abstracts.jsonl" \
  --init-e2e "checkpoints/$asr/e2e" --num-queries "$NQ" --lora-rank 8 --epochs 10 \
  --max-val-samples 12 --max-new-tokens 128 --no-eval-more-at-start
"$PY" -m bench.e2e --clips "$TALKS/abstracts.jsonl" --e2e "checkpoints/$sum/e2e"

#!/usr/bin/env bash
# The end-to-end speech -> summary model (demo.bridge.e2e): frozen tiny.en encoder -> Q-Former
# (Nq queries per 30 s window) -> frozen SmolLM2-135M-Instruct, trained first to transcribe the
# bridge grid's 2000 sentence clips (200 were far too few for a bridge: bridge_grid.sh), starting
# from that grid's trained Q-Former where it is on disk, then (with LoRA r=8 on the LM) to give
# the ACLSum summary of each spoken abstract; then bench.e2e's oracle / cascade / E2E table on
# the abstract clips' test split.
#
#   bash training/grids/e2e_grid.sh              # resumable: finished runs are skipped
#   INIT_BRIDGE=none bash training/grids/e2e_grid.sh   # the Q-Former from MiniLM instead
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
TALKS=${TALKS:-data/aclsum-talks}
BRIDGE_CORPUS=${BRIDGE_CORPUS:-data/aclsum-asr-2k}
NQ=${NQ:-32}
# Local queries (bridge_grid.sh: --segments, each query reads its segment of each 30 s window);
# LOCAL=0 for the global ones. A bridge from INIT_BRIDGE brings its own.
LOCAL=${LOCAL:-1}
local_flags=() suffix=""
if [ "$LOCAL" = 1 ]; then local_flags=(--segments) suffix="-seg"; fi
INIT_BRIDGE=${INIT_BRIDGE:-checkpoints/bridge-asr-tiny.en-q$NQ-2k$suffix/bridge}

sentence_corpus "$BRIDGE_CORPUS" 2000
init=()
if [ "$INIT_BRIDGE" != none ] && [ -f "$INIT_BRIDGE/bridge.safetensors" ]; then
  init=(--init-bridge "$INIT_BRIDGE")
elif [ "$INIT_BRIDGE" != none ]; then
  echo "note: no trained bridge at $INIT_BRIDGE (bridge_grid.sh makes it): the Q-Former starts from MiniLM" >&2
fi
if [ ! -f "$TALKS/abstracts.jsonl" ]; then
  "$PY" -m training.make_speech_corpus --out "$TALKS" --source aclsum --num-utterances 1 \
    --val-clips 0 --test-clips 0 --abstract-clips --speeds 110,130,150 --abstract-min-seconds 30
fi
asr="e2e-asr-tiny.en-q$NQ-2k$suffix"
sum="e2e-sum-tiny.en-q$NQ-2k$suffix-r8"
run_one training.train_e2e "$asr" --stage e2e-asr --train "$BRIDGE_CORPUS/manifest.jsonl" \
  --num-queries "$NQ" --epochs 3 --lr 3e-4 --warmup-steps 50 --max-new-tokens 64 \
  --max-val-samples 40 "${init[@]}" "${local_flags[@]}"
run_one training.train_e2e "$sum" --stage e2e-summary --train "$TALKS/abstracts.jsonl" \
  --init-e2e "checkpoints/$asr/e2e" --num-queries "$NQ" --lora-rank 8 --epochs 10 \
  --max-val-samples 12 --max-new-tokens 128 --no-eval-more-at-start
"$PY" -m bench.e2e --clips "$TALKS/abstracts.jsonl" --e2e "checkpoints/$sum/e2e"

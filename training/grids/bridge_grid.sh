#!/usr/bin/env bash
# The bridge's WER-vs-Nq table (issue: Q-Former bridge, stage 2a): the Q-Former (from the
# bundled MiniLM) reads the frozen tiny.en encoder's features and the frozen tiny.en decoder
# reads its Nq query vectors, for Nq in {8, 16, 32, 64, 100}; unmodified Whisper (every frame)
# is the upper bound each run reports (its run.json "whisper_wer").
#
# 200 sentence clips were far too few (bridge-asr-tiny.en-q32: WER 179% after 65 steps), so the
# bridge gets its own, larger corpus: 2000 training clips of the same ACLSum sentences (each
# spoken two or three times with other voices, speeds and noise), the same filters.
#
# Even so, a Q-Former whose queries all read the whole clip learnt little (q32-2k: WER 125%
# after 6 epochs, validation loss 9.5 -> 4.6). The grid's bridges are local (--segments: query
# i reads the i-th of Nq equal segments of the clip) with the pooled shortcut (--shortcut: the
# decoder starts from each segment's mean frame): q32 starts at loss 2.7. LOCAL=0 runs the
# global, shortcut-free bridges again (run ids without "-seg").
#
#   bash training/grids/bridge_grid.sh            # resumable: finished runs are skipped
#   NQS="32" EPOCHS=6 bash training/grids/bridge_grid.sh
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
BRIDGE_CORPUS=${BRIDGE_CORPUS:-data/aclsum-asr-2k}
NQS=${NQS:-"32 8 100 16 64"}  # the middle first, then the ends: a cut-short grid still spans
EPOCHS=${EPOCHS:-6}
LR=${LR:-3e-4}
LOCAL=${LOCAL:-1}
local_flags=() suffix=""
if [ "$LOCAL" = 1 ]; then local_flags=(--segments --shortcut) suffix="-seg"; fi

sentence_corpus "$BRIDGE_CORPUS" 2000
for nq in $NQS; do
  run_one training.train_bridge "bridge-asr-tiny.en-q$nq-2k$suffix" --stage asr \
    --train "$BRIDGE_CORPUS/manifest.jsonl" --num-queries "$nq" --epochs "$EPOCHS" --lr "$LR" \
    --warmup-steps 50 --max-new-tokens 64 --device cpu --max-val-samples 40 "${local_flags[@]}"
done
# Stage 1, BLIP-2's pre-training (STCL + STM + STG, 32 global queries): the bridge's speech ->
# text retrieval R@1 and matching accuracy (results.report's bridge section). PRETRAIN=0 skips it.
if [ "${PRETRAIN:-1}" = 1 ]; then
  run_one training.train_bridge bridge-pretrain-tiny.en-q32-2k --stage pretrain \
    --train "$BRIDGE_CORPUS/manifest.jsonl" --num-queries 32 --epochs 2 --lr "$LR" \
    --warmup-steps 50 --max-new-tokens 64 --device cpu --max-val-samples 40
fi

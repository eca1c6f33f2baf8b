#!/usr/bin/env bash
# Latent-space compression (Alam Falaki & Gras 2022) with Whisper's real weights, on the ASR
# grid's corpus: one autoencoder per latent width on the frozen encoder's outputs, scored by
# the frozen decoder reading the reconstruction (validation WER per epoch; test split at the
# end), then bench.latent_whisper on the test split beside the original model.
#
#   bash training/grids/latent_grid.sh           # resumable: finished runs are skipped
#   LATENTS="256 64" bash training/grids/latent_grid.sh
# shellcheck source=training/grids/lib.sh
source "$(dirname "$0")/lib.sh"
SIZES=${SIZES:-"tiny.en"}
LATENTS=${LATENTS:-"256 128 64 32"}
# The autoencoder is cheap once the encoder outputs are cached (epoch 1): 3 epochs left its
# reconstruction at 29% unexplained variance at latent 256, still falling.
EPOCHS=${EPOCHS:-12}
COMMON=(--stage autoencoder --epochs "$EPOCHS" --batch-size 8 --eval-batch-size 8
  --max-new-tokens 64 --device cpu --no-eval-more-at-start --max-val-samples 16)

for model in $SIZES; do
  runs=()
  for z in $LATENTS; do
    id="asr-$model-latent-ae-z$z-sci"
    run_one training.train_latent "$id" --train "$CORPUS/manifest.jsonl" --model "$model" \
      --latent "$z" "${COMMON[@]}"
    runs+=("checkpoints/$id")
  done
  "$PY" -m bench.latent_whisper --manifest "$CORPUS/manifest.jsonl" --split test \
    --runs "${runs[@]}" --repeats 1 --pca-latents $LATENTS --name "latent-whisper-$model"
done

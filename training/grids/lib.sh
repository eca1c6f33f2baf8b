# Shared by the grid scripts: the repo root as working directory, the interpreter (PY) and the
# speech corpus (CORPUS) and its recipe, and one run of a grid, resumable.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CORPUS=${CORPUS:-data/aclsum-asr}

# sentence_corpus <folder> <training clips>: the ACLSum-speech corpus (espeak-ng voices, speeds
# and pink noise over ACLSum sentences of 9-22 words; 40 validation and 60 test clips), built
# once. The ASR grid's has 200 training clips, the bridge grid's 2000 (the same sentences
# spoken again with other voices, speeds and noise).
sentence_corpus() {
  local out=$1 clips=$2
  [ -f "$out/manifest.jsonl" ] && return
  "$PY" -m training.make_speech_corpus --out "$out" --source aclsum \
    --voices en-us,en-gb,fr --speeds 150,175,200 --min-words 9 --max-words 22 \
    --snr-db 10,20,inf --noise pink --num-utterances "$clips" --val-clips 40 --test-clips 60 \
    --seed 0
}

# run_one <training module> <run-id> <flags...>: train it, or resume it if it was cut short,
# or skip it if it completed. PY and the working directory (the repo root) come from the caller.
run_one() {
  local module=$1 id=$2; shift 2
  local info="checkpoints/$id/run.json"
  if [ -f "$info" ] && grep -q '"status": "completed"' "$info"; then
    echo "== $id: completed, skipped"; return
  fi
  if [ -f "$info" ]; then
    echo "== $id: resuming"; "$PY" -m "$module" --resume "checkpoints/$id"
  else
    echo "== $id"; "$PY" -m "$module" --run-id "$id" "$@"
  fi
}

# Shared by the grid scripts: the repo root as working directory, the interpreter (PY) and the
# speech corpus (CORPUS), and one run of a grid, resumable.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
CORPUS=${CORPUS:-data/aclsum-asr}

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

"""Score Whisper models on one split of a speech manifest: WER/CER the way training scores them.

    python -m bench.score_asr --manifest data/sci/manifest.jsonl --split test \\
        --models tiny.en tiny.en:0.25 checkpoints/<lowrank-run> checkpoints/<lora-run>

A model is a registry name (``tiny.en``), a name with a low-rank fraction (``tiny.en:0.25``:
fc1/fc2 factorized by SVD, untrained), a run folder with ``lowrank/`` (a low-rank fine-tune, or
LoRA on the factors with its ``adapter/``), a run folder with only ``adapter/`` (a plain LoRA
run) or a full fine-tune's ``checkpoint-final/``. Every model transcribes the same rows with
``demo.asr.transcribe`` (greedy, ``--quant`` as in the app); scores are corpus WER/CER after
normalisation (``demo.metrics.asr_scores``). Results: ``checkpoints/bench/score-<split>.json``.
"""

from __future__ import annotations

import gc
import json
import time
from pathlib import Path
from typing import Any

from bench.env import DEFAULT_OUT, add_output_flags, meta, one_line_errors, write_results
from demo.options import OneLineParser


def _rows(manifest: Path, split: str, limit: int | None) -> list[dict]:
    rows = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else None
        if row and row.get("split", split) == split:
            rows.append({**row, "audio": str(manifest.parent / row["audio"])})
    return rows[:limit]


def load_source(source: str, quant: str):
    """A ``LoadedModel`` for one of the model forms in the module docstring."""
    from demo.compress.lowrank_io import FOLDER
    from demo.models import ModelSpec, load_lowrank_whisper, load_model

    path = Path(source)
    if (path / FOLDER).is_dir() or (path / "lowrank_config.json").is_file():
        return load_lowrank_whisper(path, quant=quant, device="cpu")
    if path.is_dir() and (path / "adapter").is_dir():
        base = json.loads((path / "run.json").read_text())["model"]
        return load_model(ModelSpec("asr", base, quant, str(path / "adapter"), "cpu"))
    if path.is_dir() and (path / "checkpoint-final").is_dir():
        return load_model(ModelSpec("asr", str(path / "checkpoint-final"), quant, device="cpu"))
    if ":" in source and not path.exists():
        return _factorized(*source.split(":", 1), quant)
    return load_model(ModelSpec("asr", source, quant, device="cpu"))


def _factorized(name: str, fraction: str, quant: str):
    import tempfile

    from demo.asr.registry import get_whisper_model
    from demo.compress.lowrank import LowRankConfig, factorize
    from demo.compress.lowrank_io import save_lowrank
    from demo.loaders import load_whisper_base
    from demo.models import load_lowrank_whisper

    model, _ = load_whisper_base(get_whisper_model(name), "fp32", "cpu")
    factorize(model, LowRankConfig(rank_fraction=float(fraction)))
    with tempfile.TemporaryDirectory() as folder:
        save_lowrank(model, folder, name, weights=False)  # the structure; factors from the SVD
        return load_lowrank_whisper(folder, quant=quant, device="cpu")


def score(source: str, rows: list[dict], quant: str, language: str) -> dict[str, Any]:
    from tqdm.auto import tqdm

    from demo.asr import TranscribeOptions, transcribe
    from demo.audio import load_audio
    from demo.metrics import asr_scores

    loaded = load_source(source, quant)
    options = TranscribeOptions(language=language if loaded.entry.multilingual else None)
    hypotheses, started = [], time.perf_counter()
    for row in tqdm(rows, desc=Path(source).name, unit="clip"):
        hypotheses.append(transcribe(loaded, load_audio(row["audio"]), options).text)
    seconds = time.perf_counter() - started
    scores = asr_scores([r["text"] for r in rows], hypotheses, language=language)
    return {
        "model": source,
        "base": loaded.entry.name,
        "quant": loaded.spec.quant,
        "clips": len(rows),
        **{k: round(100 * v, 2) for k, v in scores.items()},
        "weights_mb": round(loaded.weights_mb, 1),
        "seconds": round(seconds, 1),
        "example": hypotheses[0] if hypotheses else None,
    }


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.score_asr", description=__doc__)
    add_output_flags(parser)
    parser.add_argument("--manifest", required=True, type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--quant", default="fp32", help="quantization mode (demo.quant)")
    parser.add_argument("--language", default="en")
    parser.add_argument("--limit", type=int, default=None, help="score the first N rows only")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    info = meta("bench.score_asr", argv)
    rows = _rows(args.manifest, args.split, args.limit)
    if not rows:
        raise SystemExit(f"No rows with split={args.split} in {args.manifest}.")
    results = []
    for source in args.models:
        results.append(score(source, rows, args.quant, args.language))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "example"}), flush=True)
        gc.collect()
    write_results(args.out, f"score-{args.split}", info, results)


if __name__ == "__main__":
    main()

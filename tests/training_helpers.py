"""Helpers for the training tests: a run folder's files, and the environment of a training
subprocess (offline, one thread)."""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def only_run(root: Path) -> Path:
    """The one run folder under ``root`` (fails if there are several)."""
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def metric_lines(run_dir: Path, split: str | None = "validation") -> list[dict]:
    """The run's metrics lines of one split (None: every line)."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [line for line in lines if split is None or line["split"] == split]


def subprocess_env() -> dict:
    """The environment a training subprocess runs in: offline, one thread, this checkout."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    env["OMP_NUM_THREADS"] = "1"
    return env


def spoken_manifest(folder: Path, sentences, validation: int) -> Path:
    """A manifest of ``sentences`` spoken by espeak-ng at 170 words a minute into ``folder``:
    the one at index ``validation`` is the validation split, the others train."""
    from demo.audio import synthesize_speech

    rows = []
    for i, text in enumerate(sentences):
        synthesize_speech(text, folder / f"clip{i}.wav", words_per_minute=170)
        split = "validation" if i == validation else "train"
        rows.append({"audio": f"clip{i}.wav", "text": text, "split": split})
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path

"""Each held-out example's output, where a run kept it, and the paired intervals drawn from them.

Runs trained since training's ``RunWriter.write_predictions`` keep ``predictions/<split>.jsonl``
(each example's reference and output); ``bench.rescore`` keeps the same for runs scored again
afterwards (its rows' ``references`` / ``predictions``, with the ``manifest`` they came from).
Two runs scored on the same examples compare with a paired bootstrap (``demo.intervals``);
runs trained before either existed have only corpus scores, so no interval.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.env import read_results
from demo.intervals import MIN_ITEMS, interval_text, mean_interval, paired_difference
from demo.jsonfiles import read_jsonl
from demo.metrics import ROUGE_TYPES, rouge_per_document, word_errors
from demo.runinfo import PREDICTIONS_DIR
from results.charts.corpus import RESCORE_KIND
from results.runs import Run

MAX_PREDICTIONS_BYTES = 16 * 1024 * 1024
RESCORE_FILES = "*rescore*.json"  # bench.rescore --name ... (default "rescore")

Examples = tuple[list[str], list[str]]  # (references, outputs), one per example


def rescored_rows(folder: Path, pattern: str = RESCORE_FILES) -> dict[tuple, dict]:
    """(run id, split) -> the ``bench.rescore`` row, from the files in ``folder`` matching
    ``pattern`` (a later file's row replaces an earlier one's); each row also under (run id,
    split, manifest), since one run may be scored on several manifests' test splits."""
    rows: dict[tuple, dict] = {}
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        for row in (read_results(path) or {}).get("rows", []):
            if row.get("kind") == RESCORE_KIND:
                key = (str(row.get("run")), str(row.get("split")))
                rows[key] = rows[(*key, os.path.normpath(str(row.get("manifest"))))] = row
    return rows


def rescored_beside(runs) -> dict[tuple, dict]:
    """The rescore rows beside the runs (``<runs root>/bench``), keyed as ``rescored_rows``."""
    rescored: dict[tuple, dict] = {}
    for root in sorted({run.path.parent for run in runs}):
        rescored.update(rescored_rows(root / "bench"))
    return rescored


def run_examples(run: Run | None, split: str, rescored: dict | None = None) -> Examples | None:
    """(references, outputs) of one split: a rescore row's, else the run's own
    ``predictions/<split>.jsonl``; None when neither kept them."""
    if rescored and rescored.get("predictions"):
        return list(rescored["references"]), list(rescored["predictions"])
    if run is None:
        return None
    path = run.path / PREDICTIONS_DIR / f"{split}.jsonl"
    rows = read_jsonl(path, limit=MAX_PREDICTIONS_BYTES, warnings=[]) if path.is_file() else []
    rows = [r for r in rows if isinstance(r, dict) and "reference" in r and "prediction" in r]
    return (
        ([str(r["reference"]) for r in rows], [str(r["prediction"]) for r in rows])
        if rows
        else None
    )


def same_manifest_row(run: Run, split: str, rescored: dict[tuple, dict]) -> dict | None:
    """The rescore row of ``run`` on ``split`` when it was scored on the run's own training
    manifest (so its test split is the one the run was scored on), else None."""
    train = run.config.get("train")
    return rescored.get((run.run_id, split, os.path.normpath(str(train)))) if train else None


def wer_gap(a: Examples | None, b: Examples | None) -> tuple[float, float, float] | None:
    """``(WER of b - WER of a, low, high)`` in points, paired over the examples (word errors
    pooled over reference words), or None when either lacks outputs, the two were not scored
    on the same references or there are fewer than ``MIN_ITEMS``."""
    if not a or not b or a[0] != b[0] or len(a[0]) < MIN_ITEMS:
        return None
    before, after = word_errors(*a), word_errors(*b)
    delta, low, high = paired_difference([e for e, _ in before], [e for e, _ in after],
                                         totals=[w for _, w in before])  # fmt: skip
    return 100 * delta, 100 * low, 100 * high


def document_gap(
    a: list[dict] | None, b: list[dict] | None, key: str
) -> tuple[float, float, float] | None:
    """``(b - a, low, high)`` of a per-document score (x100 points) paired over the documents
    (entries ``{"id", key}`` as bench.summarize and bench.e2e keep them), or None when either
    lacks the score, the two scored other documents or there are fewer than ``MIN_ITEMS``."""
    if not a or not b or len(a) < MIN_ITEMS or any(key not in d for d in (*a, *b)):
        return None
    if [d.get("id") for d in a] != [d.get("id") for d in b]:
        return None
    delta, low, high = paired_difference([d[key] for d in a], [d[key] for d in b])
    return 100 * delta, 100 * low, 100 * high


def gap_text(gap: tuple[float, float, float] | None, spec: str = "+.2f") -> str:
    """``+1.23 [+0.10, +2.40]``, marked "(not distinguishable)" when the interval holds 0;
    "–" without a gap."""
    if gap is None:
        return "–"
    return f"{gap[0]:{spec}} {interval_text(gap[1], gap[2], spec)}"


def document_interval(documents: list[dict] | None, key: str) -> tuple[float, float] | None:
    """The 95% interval (x100) of a per-document score's mean, or None when the entries lack
    it or there are fewer than ``MIN_ITEMS``: the error bar of one engine's score."""
    if not documents or len(documents) < MIN_ITEMS or any(key not in d for d in documents):
        return None
    low, high = mean_interval([d[key] for d in documents])
    return 100 * low, 100 * high


def run_score_interval(run: Run, split: str, metric: str) -> tuple[float, float] | None:
    """The 95% interval (x100) of a summarization run's mean ``metric`` (a ROUGE type) over
    the documents of ``split``, from its kept outputs; None without them."""
    examples = run_examples(run, split) if metric in ROUGE_TYPES else None
    if not examples or len(examples[0]) < MIN_ITEMS:
        return None
    language = run.config.get("language") or "en"
    documents = rouge_per_document(*examples, language=language)
    return document_interval([{"id": i, **d} for i, d in enumerate(documents)], metric)

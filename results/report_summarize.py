"""The summarizers' section of ``assets/benchmarks.md`` (written by results.report): one table per
``summarize-*.json`` (bench.summarize), each with the command that measured it.

A file with an ``fp32-generate`` row is a speed run (decode tokens/s as a ratio to plain
``generate`` in the same interleaved rounds); the others score more papers once each.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from bench.env import read_results
from bench.markdown import fmt, table
from bench.summarize import BASELINE, QUALITY_REFERENCE
from demo.intervals import MIN_ITEMS, interval_text
from results.paired import document_gap, gap_text

HEADER = ["engine", "papers", "decode tok/s", "x fp32 generate", "s / paper", "ROUGE-1",
          "ROUGE-2", "ROUGE-L", "ROUGE-L vs full", "vs full: 95% interval", "MiniLM sim.",
          "words", "invented numbers + names", "weights MB"]  # fmt: skip
SPEED_COLUMNS = slice(2, 5)  # shown only for a speed run: the others time each paper once
NO_DOCUMENT_SCORES = (
    "No interval (–): this file predates per-paper scores; `python -m bench.doc_scores "
    "<file>` adds them from its stored summaries."
)


def _x100(value) -> str:
    return fmt(None if value is None else 100 * value, ".1f")


def _row(r: dict, reference: dict | None) -> list[str]:
    scores = r.get("scores") or {}
    gap = None
    if reference is not None and r is not reference:
        gap = document_gap(reference.get("summaries"), r.get("summaries"), "rougeL")
    return [
        r["engine"],
        str(r["docs"]),
        fmt(r.get("decode_tokens_per_s"), ".1f"),
        fmt(r.get("decode_speedup_vs_fp32_generate")),
        fmt(r.get("latency_s")),
        _x100(scores.get("rouge1")),
        _x100(scores.get("rouge2")),
        _x100(scores.get("rougeL")),
        fmt(r.get("rougeL_delta_vs_full"), "+.2f"),
        "–" if gap is None else interval_text(gap[1], gap[2], "+.2f"),
        _x100(scores.get("embedding_similarity")),
        fmt(r.get("summary_words"), ".1f"),
        str(r.get("unsupported_numbers", 0) + r.get("unsupported_names", 0)),
        fmt(r.get("weights_mb"), ".0f"),
    ]


def summarizer_section(folder: Path) -> list[str]:
    """Every ``summarize-*.json`` in ``folder`` as a table (none: no section)."""
    files = [(p, read_results(p)) for p in sorted(folder.glob("summarize-*.json"))]
    files = [(p, d) for p, d in files if d and d.get("rows") and "engine" in d["rows"][0]]
    if not files:
        return []
    out = [
        "## Summarizers on ACLSum: quality and decode speed",
        "",
        "ACLSum abstracts (detokenized) against the three expert aspect sentences joined; "
        f"ROUGE and MiniLM similarity x100. Files with an `{BASELINE}` row time the engines "
        "side by side in interleaved rounds (minimum per paper) and show decode speed as the "
        "ratio to it (their few papers say little about quality); the quality files score "
        "each paper once, so their timings are left out. *vs full: 95% interval*: a paired "
        "bootstrap of the ROUGE-L gap over the same papers (`demo.intervals`; none under "
        f'{MIN_ITEMS} papers); "not distinguishable": the interval holds 0.',
        "",
    ]
    for path, data in files:
        reference = next((r for r in data["rows"] if r["engine"] == QUALITY_REFERENCE), None)
        meta, rows = data["meta"], [_row(r, reference) for r in data["rows"]]
        header = HEADER
        speed = any(r["engine"] == BASELINE for r in data["rows"])
        if not speed:
            header, rows = _without_speed(header), [_without_speed(row) for row in rows]
        out += [f"### {path.stem}", "", f"`{meta.get('command', 'python -m bench.summarize')}`"]
        out += [""] + table(header, rows) + [""]
        kept = [r["summaries"][0] for r in data["rows"] if r.get("summaries")]
        if kept and not any("rougeL" in first for first in kept):
            out += [NO_DOCUMENT_SCORES, ""]
        elif not speed:
            out += _head_to_head(data["rows"])
    return out


def _head_to_head(rows: list[dict]) -> list[str]:
    """Every two engines besides full, ROUGE-L paired over the same papers (second - first)."""
    others = [r for r in rows if r["engine"] != QUALITY_REFERENCE]
    pairs = [
        f"{b['engine']} - {a['engine']}: {gap_text(gap)}"
        for a, b in combinations(others, 2)
        if (gap := document_gap(a.get("summaries"), b.get("summaries"), "rougeL")) is not None
    ]
    return (
        [f"ROUGE-L, the other engines against each other: {'; '.join(pairs)}.", ""] if pairs else []
    )


def _without_speed(cells: list[str]) -> list[str]:
    return cells[: SPEED_COLUMNS.start] + cells[SPEED_COLUMNS.stop :]


FAITHFUL_HEADER = ["configuration", "key-fact recall % [95% CI]", "unsupported / summary [95% CI]",
                   "summaries with unsupported", "ROUGE-1", "ROUGE-L", "MiniLM sim.",
                   "s / summary", "click s / audio min"]  # fmt: skip


def spoken_dev_section(folder: Path) -> list[str]:
    """bench.spoken_dev's table (``summarize-spoken-dev.json``): key-fact recall and
    unsupported details per summarizer, strategy, style and adapter (none: no section)."""
    data = read_results(folder / "summarize-spoken-dev.json")
    if not data or not data.get("rows"):
        return []
    meta = data["meta"]
    rows = sorted(data["rows"], key=lambda r: (-r["key_fact_recall"], r["config"]))
    body = [
        [
            r["config"],
            f"{100 * r['key_fact_recall']:.1f} [{100 * r['key_fact_recall_ci'][0]:.1f}, "
            f"{100 * r['key_fact_recall_ci'][1]:.1f}]",
            f"{r['unsupported_per_summary']:.2f} [{r['unsupported_ci'][0]:.2f}, "
            f"{r['unsupported_ci'][1]:.2f}]",
            f"{r['docs_with_unsupported']} / {r['documents']}",
            _x100(r["scores"]["rouge1"]),
            _x100(r["scores"]["rougeL"]),
            _x100(r["scores"]["embedding_similarity"]),
            fmt(r["summarize_s"]),
            fmt(r["click_s_per_min"], ".1f"),
        ]
        for r in rows
    ]
    docs = rows[0]["documents"]
    return [
        "## Summaries of speech: key facts kept, details invented",
        "",
        f"The spoken dev set (`training/corpora/spoken_dev.py`): {docs} recordings written for "
        "it (meetings, lectures, voice notes, phone calls, interviews, talks) spoken by "
        f"espeak-ng, transcribed by {meta.get('asr')} ({meta.get('quant')}; WER "
        f"{100 * data.get('asr_wer', 0):.1f}% on them), summarized in "
        f"{meta.get('sentences')} sentences. Key-fact recall: the share of each document's "
        "3-7 key facts a summary keeps; unsupported details: numbers, names, dates and "
        "capitalised terms in a summary that its transcript lacks (`demo.faithfulness`). "
        "Intervals: 95% bootstrap over documents. `checked` re-uses the plain summary and adds "
        "the check's time. Seconds are on this 2-core machine, shared during the run: compare "
        "them within the table.",
        "",
        f"`{meta.get('command', 'python -m bench.spoken_dev')}`",
        "",
        *table(FAITHFUL_HEADER, body),
        "",
        f"`auto` runs **{data.get('auto')}**: the best recall among prose summarizers that "
        f"stated no unsupported detail in any document, within {meta.get('click_budget_s')} s "
        "of click per audio minute.",
        "",
    ]

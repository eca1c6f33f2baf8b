"""The Compare view: the table, grouped bar charts, transcript cards and the CSV download."""

from __future__ import annotations

import csv
import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.diff import diff_html, diff_legend_html
from demo.compare import RECORD_COLUMNS, CompareRow, records
from demo.metrics import ASR_METRICS, FAITHFULNESS_METRICS, METRICS, SUMMARY_METRICS
from results.charts.compare import compare_bars

# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


# Compare table: record key -> short column title (the table's label gives the units).
# The figures the view shows, in order (keys of compare_figures).
COMPARE_FIGURES = (
    "compare_latency",
    "compare_memory",
    "compare_transcript_errors",
    "compare_summary_scores",
    "compare_unsupported",
)
COMPARE_COLUMNS = {
    "config": "configuration",
    "status": "status",
    "load_s": "load",
    "asr_s": "ASR",
    "summarize_s": "summary",
    "total_s": "total",
    "rtfx": "RTFx",
    "weights_mb": "weights",
    "peak_rss_mb": "peak RSS",
    "wer": "WER",
    "cer": "CER",
    "rouge1": "R-1",
    "rouge2": "R-2",
    "rougeL": "R-L",
    "rougeS": "R-S",
    "embedding_similarity": "emb. sim.",
    "key_fact_recall": "key facts",
    "unsupported_details": "unsupported",
}

COMPARE_TABLE_LABEL = (
    "Results: times in s, memory in MB, WER/CER in %, ROUGE (R-) and embedding similarity x100, "
    "key facts kept in %, unsupported details (in the summary, not the transcript) as a count"
)


def compare_table(rows: Sequence[CompareRow]) -> pd.DataFrame:
    """The Compare view's table: timings, memory and (when scored) quality per configuration."""
    recs = records(rows)
    metrics = (*ASR_METRICS, *SUMMARY_METRICS, *FAITHFULNESS_METRICS)
    scored = {k for r in recs for k in metrics if r.get(k) is not None}
    columns = [k for k in COMPARE_COLUMNS if k not in metrics or k in scored]
    if all(r["status"] == "ok" for r in recs):
        columns.remove("status")
    table = []
    for rec in recs:
        line = {}
        for key in columns:
            value = rec.get(key)
            if key in scored and value is not None:
                value = METRICS[key].shown(value)
            elif isinstance(value, float):
                value = round(value, 2 if key.endswith("_s") else 1)
            line[COMPARE_COLUMNS[key]] = value
        table.append(line)
    return pd.DataFrame(table, columns=[COMPARE_COLUMNS[k] for k in columns])


def compare_figures(rows: Sequence[CompareRow], template: str) -> dict[str, go.Figure]:
    """Grouped bars: time per stage, memory, and transcript / summary scores when scored."""
    recs = [r for r in records(rows) if r["status"] == "ok"]
    return {
        "compare_latency": compare_bars(recs, "latency", template=template),
        "compare_memory": compare_bars(recs, "memory", template=template),
        "compare_transcript_errors": compare_bars(recs, "errors", template=template),
        "compare_summary_scores": compare_bars(recs, "summary", template=template),
        "compare_unsupported": compare_bars(recs, "unsupported_details", template=template),
    }


def compare_cards_html(
    rows: Sequence[CompareRow],
    reference_transcript: str | None = None,
    reference_summary: str | None = None,
) -> str:
    """Each configuration's transcript and summary, words that differ from a reference marked."""
    if not rows:
        return ""
    marked = bool((reference_transcript or "").strip() or (reference_summary or "").strip())
    parts = [f'<p class="diff-legend">{diff_legend_html()}</p>'] if marked else []
    for row in rows:
        title = _escape(row.config)
        if not row.ok:
            parts.append(
                f'<div class="compare-card"><h3>{title}</h3><p>❌ {_escape(row.error)}</p></div>'
            )
            continue
        result = row.result
        parts.append(
            f'<div class="compare-card"><h3>{title}</h3>'
            f"<p><b>Transcript</b><br>{diff_html(reference_transcript, result.transcript)}</p>"
            f"<p><b>Summary</b><br>{diff_html(reference_summary, result.summary)}</p></div>"
        )
    return "\n".join(parts)


def _escape(text: str | None) -> str:
    return html.escape(text or "")


def write_csv(rows: Sequence[CompareRow], path: str | os.PathLike) -> Path:
    """Write every ``RECORD_COLUMNS`` field of each row to a CSV file (UTF-8, header first).

    Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RECORD_COLUMNS)
        writer.writeheader()
        for record in records(rows):
            writer.writerow({k: _csv_cell(v) for k, v in record.items()})
    return target


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, float):
        return round(value, 6)
    return value

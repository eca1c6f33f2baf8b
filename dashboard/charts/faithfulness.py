"""The summarizers' faithfulness on the spoken dev set (bench.spoken_dev): key-fact recall with
its 95% bootstrap interval, bars in red where a summary stated a detail the transcript lacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from dashboard.charts.style import check_template, empty_figure, style_figure

KIND = "summary-faithfulness"  # bench.spoken_dev's rows
FAITHFUL, UNFAITHFUL = "#2e7d32", "#c62828"


def faithfulness_bench(
    rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"
) -> go.Figure:
    """One horizontal bar per configuration: key-fact recall (%) with its interval; the hover
    gives unsupported details per summary, ROUGE-L and click seconds per audio minute."""
    check_template(template)
    rows = [r for r in rows if r.get("kind") == KIND]
    docs = max((int(r.get("documents") or 0) for r in rows), default=0)
    title = (
        f"Key-fact recall on the spoken dev set ({docs} recordings written for it, espeak-ng "
        "voices, Whisper transcripts); red: states details the transcript lacks"
    )
    if not rows:
        return empty_figure(title, template)
    rows = sorted(rows, key=lambda r: r["key_fact_recall"])
    recall = [100 * r["key_fact_recall"] for r in rows]
    low = [100 * (r["key_fact_recall"] - r["key_fact_recall_ci"][0]) for r in rows]
    high = [100 * (r["key_fact_recall_ci"][1] - r["key_fact_recall"]) for r in rows]
    fig = go.Figure(
        go.Bar(
            x=recall, y=[r["config"] for r in rows], orientation="h",
            marker={"color": [FAITHFUL if not r["docs_with_unsupported"] else UNFAITHFUL
                              for r in rows]},
            error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            text=[f"{v:.0f}% · {r['unsupported_per_summary']:.2f} unsupported"
                  for v, r in zip(recall, rows, strict=True)],
            textposition="outside",
            customdata=[[r["docs_with_unsupported"], 100 * r["scores"]["rougeL"],
                         r["click_s_per_min"]] for r in rows],
            hovertemplate="%{y}<br>key-fact recall %{x:.1f}%<br>summaries with unsupported "
            "details: %{customdata[0]}<br>ROUGE-L %{customdata[1]:.1f}<br>click "
            "%{customdata[2]:.1f} s per audio minute<extra></extra>",
        )
    )  # fmt: skip
    style_figure(fig, title, template, "Key facts kept (%)", "")
    fig.update_layout(height=max(360, 34 * len(rows) + 140), showlegend=False)
    return fig

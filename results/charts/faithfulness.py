"""The summarizers' faithfulness on the spoken dev set (bench.spoken_dev): key-fact recall with
its 95% bootstrap interval, bars in red where a summary stated a detail the transcript lacks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from results.charts.style import check_template, empty_figure, style_figure

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
        f"Key-fact recall on the spoken dev set<br><sup>{docs} recordings written for it, "
        "espeak-ng voices, Whisper transcripts; red: summaries stated details the transcript "
        "lacks</sup>"
    )
    if not rows:
        return empty_figure(title, template)
    rows = sorted(rows, key=lambda r: r["key_fact_recall"])
    recall = [100 * r["key_fact_recall"] for r in rows]
    low = [100 * (r["key_fact_recall"] - r["key_fact_recall_ci"][0]) for r in rows]
    high = [100 * (r["key_fact_recall_ci"][1] - r["key_fact_recall"]) for r in rows]
    fig = go.Figure(
        go.Bar(
            x=recall, y=[_short(r["config"]) for r in rows], orientation="h",
            marker={"color": [FAITHFUL if not r["docs_with_unsupported"] else UNFAITHFUL
                              for r in rows]},
            error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            text=[f"{v:.0f}%" for v in recall],
            textposition="inside", insidetextanchor="start", textfont={"color": "white"},
            customdata=[[r["docs_with_unsupported"], 100 * r["scores"]["rougeL"],
                         r["click_s_per_min"], r["unsupported_per_summary"]] for r in rows],
            hovertemplate="%{y}<br>key-fact recall %{x:.1f}%<br>unsupported details per "
            "summary %{customdata[3]:.2f}, in %{customdata[0]} summaries<br>ROUGE-L "
            "%{customdata[1]:.1f}<br>click %{customdata[2]:.1f} s per audio minute<extra></extra>",
        )
    )  # fmt: skip
    style_figure(fig, title, template, "Key facts kept (%)", "")
    top = max(100 * r["key_fact_recall_ci"][1] for r in rows)
    fig.update_layout(height=max(360, 34 * len(rows) + 140), showlegend=False)
    fig.update_xaxes(range=[0, 1.08 * top])
    return fig


def _short(config: str) -> str:
    # "smollm2-135m + sum-smollm2-135m-aclsum-lora-r1 adapter (prose)" -> "... + ACLSum lora-r1"
    return config.replace("sum-smollm2-135m-aclsum-", "ACLSum ").replace(" adapter", "")

"""Reported vs measured: our runs' final numbers beside the thesis's, bar for bar.

Reported bars are hatched and named "(reported)"; they are never merged with measured ones.
"""

from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

from dashboard.charts.style import (
    MODE_ORDER,
    REPORTED_EXTRA,
    REPORTED_SUFFIX,
    SIZE_ORDER,
    check_template,
    colors_for,
    empty_figure,
    family_label,
    num,
    ordered,
    pretty_mode,
    reported_bar_marker,
    scaled,
    size_family,
    style_figure,
)
from dashboard.charts.thesis import reported_rouge, reported_wer
from dashboard.charts.training import summary_label
from dashboard.runs import Run


def reported_vs_measured_wer(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Final WER (%) per size x mode: measured bars beside hatched "(reported)" Table 4.4 bars.

    The most recent run of each size x mode is used; its epoch is in the hover text (the
    thesis values are after 6 epochs).
    """
    check_template(template)
    title = "Final WER: measured vs thesis (Table 4.4)"
    best: dict[tuple[str, str], Run] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        if run.task == "asr" and run.size and run.mode and num(run.final.get("wer")) is not None:
            best[(run.size, run.mode)] = run
    if not best:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in best}, SIZE_ORDER)
    modes = ordered({m for _, m in best}, MODE_ORDER)
    colors = colors_for(modes, MODE_ORDER)
    reported = reported_wer()
    fig = go.Figure()
    for mode in modes:
        runs_here = [best.get((size, mode)) for size in sizes]
        fig.add_trace(
            go.Bar(
                x=sizes,
                y=[scaled(r.final.get("wer")) if r else None for r in runs_here],
                customdata=[
                    [r.run_id, num(r.final.get("epoch"))] if r else ["", None] for r in runs_here
                ],
                name=pretty_mode(mode),
                legendgroup=mode,
                offsetgroup=mode,
                marker={"color": colors[mode]},
                texttemplate="%{y:.1f}",
                textposition="outside",
                hovertemplate=(
                    "%{customdata[0]}<br>epoch %{customdata[1]}<br>WER %{y:.1f}%<extra></extra>"
                ),
            )
        )
        values = [reported.get((size_family(size), mode)) for size in sizes]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=pretty_mode(mode) + REPORTED_SUFFIX,
                    legendgroup=mode,
                    offsetgroup=mode + REPORTED_SUFFIX,
                    marker=reported_bar_marker(colors[mode]),
                    texttemplate="%{y:.1f}",
                    textposition="outside",
                    hovertemplate="thesis Table 4.4, epoch 6<br>WER %{y:.1f}%" + REPORTED_EXTRA,
                )
            )
    style_figure(fig, title, template, "Whisper size", "WER (%)", barmode="group")
    return fig


def reported_vs_measured_rouge(
    runs: Iterable[Run],
    *,
    metric: str = "rouge1",
    template: str = "plotly_white",
) -> go.Figure:
    """Final ROUGE (x100) per model x dataset and mode, measured beside reported (Tables 3.3/3.4).

    Like the thesis, LoRA/AdaLoRA use their best rank; full fine-tuning its most recent run.
    """
    check_template(template)
    label = summary_label(metric)
    title = f"{label}: measured vs thesis (Tables 3.3/3.4)"
    best: dict[tuple[str, str], Run] = {}
    sources: dict[str, tuple[str, str]] = {}  # x category -> (dataset, family) for the lookup
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        value = num(run.final.get(metric))
        if run.task != "summarization" or run.mode is None or value is None:
            continue
        family, data = run.family or run.model or "?", run.dataset or "?"
        group = f"{family_label(family)} · {data}"
        sources[group] = (data, family)
        key = (group, run.mode)
        held = best.get(key)
        # Full fine-tuning: latest run wins; adapters: best rank wins, as the thesis reports.
        if held is None or run.method == "full" or value >= num(held.final.get(metric)):
            best[key] = run
    if not best:
        return empty_figure(title, template)
    groups = sorted({g for g, _ in best})
    modes = ordered({m for _, m in best}, MODE_ORDER)
    colors = colors_for(modes, MODE_ORDER)
    fig = go.Figure()
    for mode in modes:
        runs_here = [best.get((group, mode)) for group in groups]
        fig.add_trace(
            go.Bar(
                x=groups,
                y=[scaled(r.final.get(metric)) if r else None for r in runs_here],
                customdata=[[r.run_id, r.rank] if r else ["", None] for r in runs_here],
                name=pretty_mode(mode),
                legendgroup=mode,
                offsetgroup=mode,
                marker={"color": colors[mode]},
                texttemplate="%{y:.1f}",
                textposition="outside",
                hovertemplate=(
                    f"%{{customdata[0]}}<br>r=%{{customdata[1]}}<br>{label} %{{y:.1f}}"
                    "<extra></extra>"
                ),
            )
        )
        values = [reported_rouge(*sources[group], mode, metric) for group in groups]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=groups,
                    y=values,
                    name=pretty_mode(mode) + REPORTED_SUFFIX,
                    legendgroup=mode,
                    offsetgroup=mode + REPORTED_SUFFIX,
                    marker=reported_bar_marker(colors[mode]),
                    texttemplate="%{y:.1f}",
                    textposition="outside",
                    hovertemplate=f"thesis<br>{label} %{{y:.1f}}" + REPORTED_EXTRA,
                )
            )
    style_figure(fig, title, template, "Model · dataset", f"{label} (x100)", barmode="group")
    return fig

"""What training costs, modelled on the thesis's tables: weights memory per Whisper size and
precision (Table 4.2) and training minutes per epoch (Table 4.3), measured beside reported.

Every builder is a pure function: runs (``results.runs.Run``) or rows in, a figure out.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from results.charts.style import (
    MODE_ORDER,
    PRECISION_ORDER,
    REPORTED_EXTRA,
    REPORTED_SUFFIX,
    SIZE_ORDER,
    check_template,
    colors_for,
    empty_figure,
    num,
    ordered,
    pretty_mode,
    quantization_of,
    reported_bar_marker,
    size_family,
    style_figure,
)
from results.charts.thesis import (
    MEMORY_REPORTED_COLUMNS,
    TRAIN_TIME_REPORTED_COLUMNS,
    reported_by_size,
)
from results.runs import Run


def memory_per_precision(
    rows: Iterable[Mapping[str, Any]],
    *,
    show_reported: bool = True,
    template: str = "plotly_white",
) -> go.Figure:
    """Weights memory (MB, log axis) per Whisper size x precision (Table 4.2).

    ``rows`` are benchmark dicts ``{"size", "precision", "weights_mb"}``; a repeated
    size x precision keeps its last row. Reported bars (thesis full precision = fp16, int8,
    int4 = nf4) are drawn for the sizes measured.
    """
    check_template(template)
    title = "Model weights per precision (Table 4.2)"
    measured: dict[tuple[str, str], float] = {}
    for row in rows:
        value = num(row.get("weights_mb"))
        if value is not None and row.get("size") and row.get("precision"):
            measured[(str(row["size"]), str(row["precision"]))] = value
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in measured}, SIZE_ORDER, key=size_family)
    precisions = ordered({p for _, p in measured}, PRECISION_ORDER)
    if show_reported:
        precisions = ordered(set(precisions) | set(MEMORY_REPORTED_COLUMNS), PRECISION_ORDER)
    colors = colors_for(precisions, PRECISION_ORDER)
    reported = reported_by_size("whisper_memory", MEMORY_REPORTED_COLUMNS)
    fig = go.Figure()
    for precision in precisions:
        values = [measured.get((size, precision)) for size in sizes]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=precision,
                    legendgroup=precision,
                    offsetgroup=precision,
                    marker={"color": colors[precision]},
                    texttemplate="%{y:.0f}",
                    textposition="outside",
                    hovertemplate=f"{precision}<br>%{{y:.0f}} MB<extra></extra>",
                )
            )
        values = [reported.get((size_family(size), precision)) for size in sizes]
        if show_reported and any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=precision + REPORTED_SUFFIX,
                    legendgroup=precision,
                    offsetgroup=precision + REPORTED_SUFFIX,
                    marker=reported_bar_marker(colors[precision]),
                    texttemplate="%{y:.0f}",
                    textposition="outside",
                    hovertemplate=f"thesis Table 4.2, {precision}<br>%{{y:.0f}} MB"
                    + REPORTED_EXTRA,
                )
            )
    style_figure(fig, title, template, "Whisper size", "Weights (MB, log scale)", barmode="group")
    fig.update_yaxes(type="log")
    return fig


def minutes_per_epoch(
    runs: Iterable[Run],
    *,
    show_reported: bool = True,
    template: str = "plotly_white",
) -> go.Figure:
    """Training minutes per epoch (log axis) per Whisper size x mode, from ``epoch_seconds``.

    A run's value is the median of its ``epoch_seconds``; the most recent run of each
    size x mode is drawn. Reported bars (Table 4.3) are per quantization (full, int8, nf4) and
    were measured on 40 h of audio per epoch, so only their ratios compare.
    """
    check_template(template)
    title = "Minutes per epoch (Table 4.3: thesis epochs are 40 h of audio)"
    measured: dict[tuple[str, str], tuple[float, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        minutes = minutes_per_epoch_of(run)
        if run.task == "asr" and run.size and run.mode and minutes is not None:
            measured[(run.size, run.mode)] = (minutes, run)
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in measured}, SIZE_ORDER)
    modes = ordered({m for _, m in measured}, MODE_ORDER)
    colors = colors_for(modes, MODE_ORDER)
    fig = go.Figure()
    for mode in modes:
        cells = [measured.get((size, mode)) for size in sizes]
        fig.add_trace(
            go.Bar(
                x=sizes,
                y=[cell[0] if cell else None for cell in cells],
                customdata=[_hover_name(cell[1]) if cell else "" for cell in cells],
                name=pretty_mode(mode),
                legendgroup=mode,
                offsetgroup=mode,
                marker={"color": colors[mode]},
                texttemplate="%{y:.1f}",
                textposition="outside",
                hovertemplate="%{customdata}<br>%{y:.1f} min/epoch<extra></extra>",
            )
        )
    if show_reported:
        reported = reported_by_size("whisper_train_time", TRAIN_TIME_REPORTED_COLUMNS)
        # Each reported bar takes the colour of the first measured mode with its quantization.
        qcolors: dict[str, str] = {}
        for mode in modes:
            qcolors.setdefault(quantization_of(mode), colors[mode])
        for quant in ordered(set(qcolors), tuple(TRAIN_TIME_REPORTED_COLUMNS)):
            values = [reported.get((size, quant)) for size in sizes]
            if not any(v is not None for v in values):
                continue
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=quant + REPORTED_SUFFIX,
                    legendgroup=quant + REPORTED_SUFFIX,
                    offsetgroup=quant + REPORTED_SUFFIX,
                    marker=reported_bar_marker(qcolors[quant]),
                    texttemplate="%{y:.0f}",
                    textposition="outside",
                    hovertemplate=(
                        f"thesis Table 4.3, {quant}, 40 h of audio<br>%{{y:.0f}} min/epoch"
                        "" + REPORTED_EXTRA
                    ),
                )
            )
    style_figure(
        fig, title, template, "Whisper size", "Minutes per epoch (log scale)", barmode="group"
    )
    fig.update_yaxes(type="log")
    return fig


def _hover_name(run: Run) -> str:
    return run.run_id + (" (gradient checkpointing: slower steps)" if run.checkpointed else "")


def minutes_per_epoch_of(run: Run) -> float | None:
    seconds = [s for s in (num(m.get("epoch_seconds")) for m in run.validation) if s and s > 0]
    return statistics.median(seconds) / 60 if seconds else None

"""Plotly figures for the dashboard, modelled on the thesis tables and figures.

Every builder is a pure function: runs (``demo.runs.Run``) or benchmark rows in, a
``plotly.graph_objects.Figure`` out, styled for a 1280x720 slide in a light
(``"plotly_white"``) or dark (``"plotly_dark"``) template. Numbers from the thesis are drawn
as separate traces named "... (reported)", hollow or hatched, never merged with measured ones.
Metric fractions (0..1, as in metrics.jsonl and benchmark rows) are shown x100.
"""

import importlib.util
import math
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import plotly.graph_objects as go

from demo.errors import DemoError, unknown_choice
from demo.runs import QUANTIZED_PRECISIONS, WHISPER_SIZES, Run, load_reference

THEMES = ("plotly_white", "plotly_dark")
FONT_SIZE = 18
TITLE_FONT_SIZE = 26
AXIS_TITLE_FONT_SIZE = 20
FIGURE_HEIGHT = 640
EXPORT_WIDTH = 1280
EXPORT_HEIGHT = 720
EMPTY_MESSAGE = "No runs yet"
REPORTED_SUFFIX = " (reported)"
_REPORTED_EXTRA = "<extra>reported</extra>"
REPORTED_WER_EPOCH = 6  # Table 4.4 is WER after 6 epochs on How2
# Okabe-Ito based: tells colours apart for colour-blind viewers, readable on white and black.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#999999",
    "#8C564B",
    "#17BECF",
)
REFERENCE_COLOR = "#999999"  # reported lines with no measured counterpart
SIZE_ORDER = WHISPER_SIZES
MODE_ORDER = (
    "full",
    "lora",
    "adalora",
    "int8",
    "nf4",
    "int8+lora",
    "int8+adalora",
    "nf4+lora",
    "nf4+adalora",
)
PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8", "nf4")
METHOD_ORDER = ("full", "lora", "adalora")
FAMILY_LABELS = {"t5": "T5", "bart": "BART", "mbart": "mBART"}
# Our mode label -> thesis_whisper_wer.csv column (the thesis says int4 for NF4).
WER_REPORTED_COLUMNS = {
    "full": "full",
    "nf4": "int4",
    "int8": "int8",
    "nf4+adalora": "int4_adalora",
    "int8+adalora": "int8_adalora",
}
# Precision -> thesis_whisper_memory.csv column; the thesis' "full precision" sizes are fp16.
MEMORY_REPORTED_COLUMNS = {
    "fp16": "memory_fp_mb",
    "int8": "memory_int8_mb",
    "nf4": "memory_int4_mb",
}
# Quantization of a mode ("full" when none) -> thesis_whisper_train_time.csv column.
TRAIN_TIME_REPORTED_COLUMNS = {
    "full": "minutes_per_epoch_full",
    "int8": "minutes_per_epoch_int8",
    "nf4": "minutes_per_epoch_int4",
}
# Summarization metrics: metrics.jsonl key -> label; all shown x100.
SUMMARY_METRICS = {
    "rouge1": "ROUGE-1",
    "rouge2": "ROUGE-2",
    "rougeL": "ROUGE-L",
    "rougeLsum": "ROUGE-Lsum",
    "rougeS": "ROUGE-S",
    "embedding_similarity": "Embedding similarity",
}
# metrics.jsonl key -> final_metrics_table column, and the factor applied to the value.
TABLE_METRICS = {
    "wer": ("WER (%)", 100.0),
    "cer": ("CER (%)", 100.0),
    "wer_raw": ("WER raw (%)", 100.0),
    **{key: (f"{label} (x100)", 100.0) for key, label in SUMMARY_METRICS.items()},
    "loss": ("Loss", 1.0),
    "peak_memory_mb": ("Peak memory (MB)", 1.0),
}


class _BarSpec(NamedTuple):
    title: str
    y_title: str
    series: dict[str, str]  # row key -> trace name
    scale: float  # x100 for fractions
    barmode: str  # "group" or "stack"
    text_format: str  # texttemplate number format


_STAGES = {"load_s": "Load", "asr_s": "Transcribe", "summarize_s": "Summarize"}
_MEMORY = {"weights_mb": "Weights", "peak_rss_mb": "Peak RSS"}
COMPARE_METRICS = {
    "latency": _BarSpec("Time per stage", "Time (s)", _STAGES, 1.0, "stack", ".2f"),
    "memory": _BarSpec("Memory", "Memory (MB)", _MEMORY, 1.0, "group", ".0f"),
    "total_s": _BarSpec("Total time", "Time (s)", {"total_s": "Total"}, 1.0, "group", ".2f"),
    "load_s": _BarSpec("Model load time", "Time (s)", {"load_s": "Load"}, 1.0, "group", ".2f"),
    "asr_s": _BarSpec(
        "Transcription time", "Time (s)", {"asr_s": "Transcribe"}, 1.0, "group", ".2f"
    ),
    "summarize_s": _BarSpec(
        "Summarization time", "Time (s)", {"summarize_s": "Summarize"}, 1.0, "group", ".2f"
    ),
    "weights_mb": _BarSpec(
        "Model weights", "Weights (MB)", {"weights_mb": "Weights"}, 1.0, "group", ".0f"
    ),
    "peak_rss_mb": _BarSpec(
        "Peak memory", "Peak RSS (MB)", {"peak_rss_mb": "Peak RSS"}, 1.0, "group", ".0f"
    ),
    "wer": _BarSpec("Word error rate", "WER (%)", {"wer": "WER"}, 100.0, "group", ".1f"),
    "cer": _BarSpec("Character error rate", "CER (%)", {"cer": "CER"}, 100.0, "group", ".1f"),
    **{
        key: _BarSpec(label, f"{label} (x100)", {key: label}, 100.0, "group", ".1f")
        for key, label in SUMMARY_METRICS.items()
    },
    # Grouped views for the Compare tab: all transcript errors, all summary scores.
    "errors": _BarSpec(
        "Transcript errors vs reference", "Error rate (%)", {"wer": "WER", "cer": "CER"},
        100.0, "group", ".1f",
    ),
    "summary": _BarSpec(
        "Summary vs reference", "Score (x100)",
        {k: v for k, v in SUMMARY_METRICS.items() if k != "rougeLsum"}, 100.0, "group", ".1f",
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- training runs


def wer_per_epoch(
    runs: Iterable[Run],
    *,
    group_by: str = "size",
    size: str | None = None,
    mode: str | None = None,
    dataset: str | None = None,
    show_reported: bool = True,
    template: str = "plotly_white",
) -> go.Figure:
    """WER (%) vs epoch: one line per size for one mode (Fig 4.1) or per mode for one size (4.2).

    ``group_by="size"`` fixes ``mode`` and ``group_by="mode"`` fixes ``size``; left as None,
    the first value present (in ``MODE_ORDER`` / ``SIZE_ORDER``) is used and named in the
    title. With ``show_reported`` the thesis' epoch-6 WER (Table 4.4) is added as hollow
    markers "<name> (reported)" for the lines drawn.
    """
    _check_template(template)
    groupings = {"size": ("mode", mode, MODE_ORDER), "mode": ("size", size, SIZE_ORDER)}
    if group_by not in groupings:
        raise unknown_choice("grouping", group_by, list(groupings))
    fixed_field, fixed_value, fixed_order = groupings[group_by]
    line_order = SIZE_ORDER if group_by == "size" else MODE_ORDER

    asr = [r for r in runs if r.task == "asr" and _curve(r, "wer")[0]]
    if dataset is not None:
        asr = [r for r in asr if r.dataset == dataset]
    if fixed_value is None:
        present = [getattr(r, fixed_field) for r in asr]
        fixed_value = next(iter(_ordered({v for v in present if v}, fixed_order)), None)
    chosen = [r for r in asr if getattr(r, fixed_field) == fixed_value]
    title = f"WER per epoch: {_pretty(fixed_value) if fixed_value else 'no runs'}, by {group_by}"
    if not chosen:
        return _empty(title, template)
    fig = go.Figure()

    keys = _ordered({getattr(r, group_by) or "?" for r in chosen}, line_order)
    colors = _colors(keys, line_order)
    chosen.sort(key=lambda r: (keys.index(getattr(r, group_by) or "?"), r.started_at, r.run_id))
    counts = {key: sum(getattr(r, group_by) == key for r in chosen) for key in keys}
    for run in chosen:
        key = getattr(run, group_by) or "?"
        epochs, values = _curve(run, "wer")
        name = _pretty(key) if counts[key] == 1 else f"{_pretty(key)} ({run.run_id})"
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[v * 100 for v in values],
                mode="lines+markers",
                name=name,
                legendgroup=key,
                line={"color": colors[key], "width": 3},
                marker={"size": 9},
                hovertemplate=f"{run.run_id}<br>epoch %{{x:.2f}}<br>WER %{{y:.1f}}%<extra></extra>",
            )
        )
    if show_reported:
        reported = _reported_wer()
        for key in keys:
            size_key, mode_key = (key, fixed_value) if group_by == "size" else (fixed_value, key)
            value = reported.get((_size_family(size_key), mode_key))
            if value is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[REPORTED_WER_EPOCH],
                    y=[value],
                    mode="markers",
                    name=_pretty(key) + REPORTED_SUFFIX,
                    legendgroup=key,
                    marker=_reported_marker(colors[key]),
                    hovertemplate=(
                        f"thesis Table 4.4, {_pretty(key)}<br>epoch %{{x}}<br>"
                        "WER %{y:.1f}%" + _REPORTED_EXTRA
                    ),
                )
            )
    _style(fig, title, template, "Epoch", "WER (%)")
    fig.update_xaxes(dtick=1, rangemode="tozero")
    fig.update_yaxes(rangemode="tozero")
    return fig


def rouge_vs_rank(
    runs: Iterable[Run],
    *,
    metric: str = "rouge1",
    dataset: str | None = None,
    show_reported: bool = True,
    template: str = "plotly_white",
) -> go.Figure:
    """Final ROUGE (x100) vs LoRA rank r on a log2 axis, one line per model x method (Figs 3.2/3.3).

    When several runs share a rank the most recent one is drawn. With ``show_reported`` the
    thesis' full / best-rank LoRA / AdaLoRA values (Tables 3.3/3.4) are dashed horizontal
    lines "<model> <method> (reported)".
    """
    _check_template(template)
    label = _summary_label(metric)
    runs = [
        r
        for r in runs
        if r.task == "summarization"
        and r.method in ("lora", "adalora")
        and r.rank is not None
        and _num(r.final.get(metric)) is not None
        and (dataset is None or r.dataset == dataset)
    ]
    title = f"{label} vs LoRA rank" + (f" ({dataset})" if dataset else "")
    if not runs:
        return _empty(title, template)

    lines: dict[tuple[str, str, str], dict[int, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        key = (run.dataset or "?", run.family or run.model or "?", run.mode or "?")
        lines.setdefault(key, {})[run.rank] = run  # later runs replace earlier ones
    keys = sorted(lines, key=lambda k: (k[0], k[1], _order_index(k[2], MODE_ORDER)))
    several_datasets = len({k[0] for k in keys}) > 1
    colors = dict(zip(keys, _cycle(len(keys)), strict=True))
    ranks = sorted({r.rank for r in runs})
    fig = go.Figure()
    for key in keys:
        points = sorted(lines[key].items())
        name = _line_name(key, several_datasets)
        fig.add_trace(
            go.Scatter(
                x=[rank for rank, _ in points],
                y=[_num(run.final.get(metric)) * 100 for _, run in points],
                customdata=[run.run_id for _, run in points],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                line={"color": colors[key], "width": 3},
                marker={"size": 10},
                hovertemplate=f"%{{customdata}}<br>r=%{{x}}<br>{label} %{{y:.1f}}<extra></extra>",
            )
        )
    if show_reported and metric in _reported_rouge_columns():
        span = [ranks[0], ranks[-1]] if len(ranks) > 1 else [ranks[0] / 2, ranks[0] * 2]
        drawn: set[tuple[str, str, str]] = set()
        for data, family, _ in keys:
            for method in METHOD_ORDER:
                value = _reported_rouge(data, family, method, metric)
                if value is None or (data, family, method) in drawn:
                    continue
                drawn.add((data, family, method))
                color = colors.get((data, family, method), REFERENCE_COLOR)
                name = _line_name((data, family, method), several_datasets) + REPORTED_SUFFIX
                fig.add_trace(
                    go.Scatter(
                        x=span,
                        y=[value, value],
                        mode="lines",
                        name=name,
                        legendgroup=name,
                        line={
                            "color": color,
                            "width": 2,
                            "dash": "dot" if method == "full" else "dash",
                        },
                        hovertemplate=f"thesis, {name}<br>{label} %{{y:.1f}}" + _REPORTED_EXTRA,
                    )
                )
    _style(fig, title, template, "LoRA rank r (log2 scale)", f"{label} (x100)")
    fig.update_xaxes(type="log", tickvals=ranks, ticktext=[str(r) for r in ranks])
    return fig


def final_metrics_table(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run with its last validation metrics, as in Tables 3.3/3.4/4.4 (measured only).

    Error rates are in %, ROUGE and embedding similarity x100, rounded to 0.1; sorted by task,
    dataset, model, mode and rank.
    """
    rows = []
    runs = [r for r in runs if r.final]
    runs.sort(
        key=lambda r: (
            r.task or "",
            r.dataset or "",
            r.model or "",
            _order_index(r.mode, MODE_ORDER),
            r.rank or 0,
        )
    )
    present = [
        key for key in TABLE_METRICS if any(_num(r.final.get(key)) is not None for r in runs)
    ]
    for run in runs:
        final = run.final
        row = {
            "Run": run.run_id,
            "Task": run.task,
            "Dataset": run.dataset,
            "Model": run.model,
            "Mode": run.mode,
            "Rank": run.rank,
            "Epoch": _num(final.get("epoch")),
            "Status": run.status,
        }
        for key in present:
            column, factor = TABLE_METRICS[key]
            value = _num(final.get(key))
            row[column] = None if value is None else round(value * factor, 1)
        row["Trainable (%)"] = _round(run.info.get("trainable_pct"), 2)
        row["Minutes/epoch"] = _round(_minutes_per_epoch(run), 1)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["Run", "Task", "Dataset", "Model", "Mode", "Rank", "Epoch"])
    return pd.DataFrame(rows)


def reported_vs_measured_wer(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Final WER (%) per size x mode: measured bars beside hatched "(reported)" Table 4.4 bars.

    The most recent run of each size x mode is used; its epoch is in the hover text (the
    thesis values are after 6 epochs).
    """
    _check_template(template)
    title = "Final WER: measured vs thesis (Table 4.4)"
    best: dict[tuple[str, str], Run] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        if run.task == "asr" and run.size and run.mode and _num(run.final.get("wer")) is not None:
            best[(run.size, run.mode)] = run
    if not best:
        return _empty(title, template)
    sizes = _ordered({s for s, _ in best}, SIZE_ORDER)
    modes = _ordered({m for _, m in best}, MODE_ORDER)
    colors = _colors(modes, MODE_ORDER)
    reported = _reported_wer()
    fig = go.Figure()
    for mode in modes:
        runs_here = [best.get((size, mode)) for size in sizes]
        fig.add_trace(
            go.Bar(
                x=sizes,
                y=[_scaled(r.final.get("wer")) if r else None for r in runs_here],
                customdata=[
                    [r.run_id, _num(r.final.get("epoch"))] if r else ["", None] for r in runs_here
                ],
                name=_pretty(mode),
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
        values = [reported.get((_size_family(size), mode)) for size in sizes]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=_pretty(mode) + REPORTED_SUFFIX,
                    legendgroup=mode,
                    offsetgroup=mode + REPORTED_SUFFIX,
                    marker=_reported_bar_marker(colors[mode]),
                    texttemplate="%{y:.1f}",
                    textposition="outside",
                    hovertemplate="thesis Table 4.4, epoch 6<br>WER %{y:.1f}%" + _REPORTED_EXTRA,
                )
            )
    _style(fig, title, template, "Whisper size", "WER (%)", barmode="group")
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
    _check_template(template)
    label = _summary_label(metric)
    title = f"{label}: measured vs thesis (Tables 3.3/3.4)"
    best: dict[tuple[str, str], Run] = {}
    sources: dict[str, tuple[str, str]] = {}  # x category -> (dataset, family) for the lookup
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        value = _num(run.final.get(metric))
        if run.task != "summarization" or run.mode is None or value is None:
            continue
        family, data = run.family or run.model or "?", run.dataset or "?"
        group = f"{_family(family)} · {data}"
        sources[group] = (data, family)
        key = (group, run.mode)
        held = best.get(key)
        # Full fine-tuning: latest run wins; adapters: best rank wins, as the thesis reports.
        if held is None or run.method == "full" or value >= _num(held.final.get(metric)):
            best[key] = run
    if not best:
        return _empty(title, template)
    groups = sorted({g for g, _ in best})
    modes = _ordered({m for _, m in best}, MODE_ORDER)
    colors = _colors(modes, MODE_ORDER)
    fig = go.Figure()
    for mode in modes:
        runs_here = [best.get((group, mode)) for group in groups]
        fig.add_trace(
            go.Bar(
                x=groups,
                y=[_scaled(r.final.get(metric)) if r else None for r in runs_here],
                customdata=[[r.run_id, r.rank] if r else ["", None] for r in runs_here],
                name=_pretty(mode),
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
        values = [_reported_rouge(*sources[group], mode, metric) for group in groups]
        if any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=groups,
                    y=values,
                    name=_pretty(mode) + REPORTED_SUFFIX,
                    legendgroup=mode,
                    offsetgroup=mode + REPORTED_SUFFIX,
                    marker=_reported_bar_marker(colors[mode]),
                    texttemplate="%{y:.1f}",
                    textposition="outside",
                    hovertemplate=f"thesis<br>{label} %{{y:.1f}}" + _REPORTED_EXTRA,
                )
            )
    _style(fig, title, template, "Model · dataset", f"{label} (x100)", barmode="group")
    return fig


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
    _check_template(template)
    title = "Model weights per precision (Table 4.2)"
    measured: dict[tuple[str, str], float] = {}
    for row in rows:
        value = _num(row.get("weights_mb"))
        if value is not None and row.get("size") and row.get("precision"):
            measured[(str(row["size"]), str(row["precision"]))] = value
    if not measured:
        return _empty(title, template)
    sizes = _ordered({s for s, _ in measured}, SIZE_ORDER, key=_size_family)
    precisions = _ordered({p for _, p in measured}, PRECISION_ORDER)
    if show_reported:
        precisions = _ordered(set(precisions) | set(MEMORY_REPORTED_COLUMNS), PRECISION_ORDER)
    colors = _colors(precisions, PRECISION_ORDER)
    reported = _reported_by_size("whisper_memory", MEMORY_REPORTED_COLUMNS)
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
        values = [reported.get((_size_family(size), precision)) for size in sizes]
        if show_reported and any(v is not None for v in values):
            fig.add_trace(
                go.Bar(
                    x=sizes,
                    y=values,
                    name=precision + REPORTED_SUFFIX,
                    legendgroup=precision,
                    offsetgroup=precision + REPORTED_SUFFIX,
                    marker=_reported_bar_marker(colors[precision]),
                    texttemplate="%{y:.0f}",
                    textposition="outside",
                    hovertemplate=f"thesis Table 4.2, {precision}<br>%{{y:.0f}} MB"
                    + _REPORTED_EXTRA,
                )
            )
    _style(fig, title, template, "Whisper size", "Weights (MB, log scale)", barmode="group")
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
    _check_template(template)
    title = "Minutes per epoch (Table 4.3: thesis epochs are 40 h of audio)"
    measured: dict[tuple[str, str], tuple[float, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        minutes = _minutes_per_epoch(run)
        if run.task == "asr" and run.size and run.mode and minutes is not None:
            measured[(run.size, run.mode)] = (minutes, run)
    if not measured:
        return _empty(title, template)
    sizes = _ordered({s for s, _ in measured}, SIZE_ORDER)
    modes = _ordered({m for _, m in measured}, MODE_ORDER)
    colors = _colors(modes, MODE_ORDER)
    fig = go.Figure()
    for mode in modes:
        cells = [measured.get((size, mode)) for size in sizes]
        fig.add_trace(
            go.Bar(
                x=sizes,
                y=[cell[0] if cell else None for cell in cells],
                customdata=[cell[1].run_id if cell else "" for cell in cells],
                name=_pretty(mode),
                legendgroup=mode,
                offsetgroup=mode,
                marker={"color": colors[mode]},
                texttemplate="%{y:.1f}",
                textposition="outside",
                hovertemplate="%{customdata}<br>%{y:.1f} min/epoch<extra></extra>",
            )
        )
    if show_reported:
        reported = _reported_by_size("whisper_train_time", TRAIN_TIME_REPORTED_COLUMNS)
        # Each reported bar takes the colour of the first measured mode with its quantization.
        qcolors: dict[str, str] = {}
        for mode in modes:
            qcolors.setdefault(_quantization(mode), colors[mode])
        for quant in _ordered(set(qcolors), tuple(TRAIN_TIME_REPORTED_COLUMNS)):
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
                    marker=_reported_bar_marker(qcolors[quant]),
                    texttemplate="%{y:.0f}",
                    textposition="outside",
                    hovertemplate=(
                        f"thesis Table 4.3, {quant}, 40 h of audio<br>%{{y:.0f}} min/epoch"
                        "" + _REPORTED_EXTRA
                    ),
                )
            )
    _style(fig, title, template, "Whisper size", "Minutes per epoch (log scale)", barmode="group")
    fig.update_yaxes(type="log")
    return fig


# --------------------------------------------------------------------------- benchmark rows


def bench_latency(
    rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"
) -> go.Figure:
    """Latency (s) per configuration from benchmark rows ``{"config", "latency_s", ...}``."""
    spec = _BarSpec(
        "Latency per configuration", "Latency (s)", {"latency_s": "Latency"}, 1.0, "group", ".2f"
    )
    return _bar_chart(list(rows), spec, template)


def bench_memory(rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white") -> go.Figure:
    """Weights and peak RSS (MB) per configuration, grouped, from benchmark rows."""
    spec = _BarSpec("Memory per configuration", "Memory (MB)", _MEMORY, 1.0, "group", ".0f")
    return _bar_chart(list(rows), spec, template)


def compare_bars(
    rows: Iterable[Mapping[str, Any]],
    metric: str = "latency",
    *,
    template: str = "plotly_white",
) -> go.Figure:
    """Bars per configuration for the Compare view; ``metric`` is a ``COMPARE_METRICS`` key.

    ``"latency"`` stacks load / transcribe / summarize seconds, ``"memory"`` groups weights
    and peak RSS; metric keys such as ``"wer"`` or ``"rouge1"`` (fractions) are shown x100.
    """
    if metric not in COMPARE_METRICS:
        raise unknown_choice("comparison metric", metric, list(COMPARE_METRICS))
    return _bar_chart(list(rows), COMPARE_METRICS[metric], template)


# --------------------------------------------------------------------------- export


def figure_to_html(fig: go.Figure) -> str:
    """A self-contained HTML page for ``fig`` with plotly.js inlined, so it works offline."""
    return fig.to_html(
        include_plotlyjs=True,
        full_html=True,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True},
    )


def save_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` by suffix: .html always; .png/.svg/.pdf need kaleido (else ``DemoError``)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        raise unknown_choice("figure format", suffix or target.name, list(_WRITERS))
    target.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[suffix](fig, target)
    return target


def save_figures(
    figures: Mapping[str, go.Figure],
    folder: str | Path,
    suffixes: Iterable[str] = (".html",),
) -> list[Path]:
    """Write each figure as ``folder/<name><suffix>``; returns the paths written.

    HTML files are written first; images (.png/.svg/.pdf) go to kaleido in one batch, which
    starts its browser once instead of once per image. Raises ``DemoError`` when images are
    asked for and kaleido is missing or fails (the HTML files are written by then).
    """
    suffixes = [s.lower() for s in suffixes]
    for suffix in suffixes:
        if suffix not in _WRITERS:
            raise unknown_choice("figure format", suffix, list(_WRITERS))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    stems = {
        name: re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "chart" for name in figures
    }
    written = []
    if ".html" in suffixes:
        for name, fig in figures.items():
            path = target / f"{stems[name]}.html"
            _write_html(fig, path)
            written.append(path)
    images = [
        (fig, target / f"{stems[name]}{suffix}")
        for suffix in suffixes
        if suffix != ".html"
        for name, fig in figures.items()
    ]
    if not images:
        return written
    if not _has_kaleido():
        raise DemoError("Saving PNG/SVG images needs the kaleido package; the HTML files work.")
    import plotly.io as pio

    try:
        pio.write_images(
            [fig for fig, _ in images],
            [path for _, path in images],
            width=EXPORT_WIDTH,
            height=EXPORT_HEIGHT,
            scale=2,
        )
    except Exception as exc:  # kaleido and its browser fail in many ways
        raise DemoError(
            f"Couldn't export images with kaleido ({exc}); use the HTML files."
        ) from exc
    return written + [path for _, path in images]


def _write_html(fig: go.Figure, target: Path) -> None:
    target.write_text(figure_to_html(fig), encoding="utf-8")


def _write_image(fig: go.Figure, target: Path) -> None:
    if not _has_kaleido():
        raise DemoError(
            f"Saving {target.suffix} images needs the kaleido package; save as .html instead "
            "or install kaleido."
        )
    try:
        fig.write_image(target, width=EXPORT_WIDTH, height=EXPORT_HEIGHT, scale=2)
    except (RuntimeError, ValueError, OSError) as exc:
        raise DemoError(f"Couldn't export {target.name} with kaleido ({exc}); use .html.") from exc


def _has_kaleido() -> bool:
    return importlib.util.find_spec("kaleido") is not None


_WRITERS: dict[str, Callable[[go.Figure, Path], None]] = {
    ".html": _write_html,
    ".png": _write_image,
    ".svg": _write_image,
    ".pdf": _write_image,
}


# --------------------------------------------------------------------------- helpers


def _bar_chart(rows: list[Mapping[str, Any]], spec: _BarSpec, template: str) -> go.Figure:
    _check_template(template)
    configs: list[str] = []
    by_config: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        config = str(row.get("config") or "?")
        if config not in by_config:
            configs.append(config)
        by_config[config] = row  # a repeated config keeps its last row
    has_values = any(_num(by_config[c].get(k)) is not None for c in configs for k in spec.series)
    if not has_values:
        return _empty(spec.title, template)
    fig = go.Figure()
    colors = _cycle(len(spec.series))
    for (key, name), color in zip(spec.series.items(), colors, strict=True):
        values = [_scaled(by_config[c].get(key), spec.scale) for c in configs]
        fig.add_trace(
            go.Bar(
                x=configs,
                y=values,
                name=name,
                marker={"color": color},
                texttemplate=f"%{{y:{spec.text_format}}}",
                textposition="inside" if spec.barmode == "stack" else "outside",
                hovertemplate=f"%{{x}}<br>{name}: %{{y:{spec.text_format}}}<extra></extra>",
            )
        )
    _style(fig, spec.title, template, "Configuration", spec.y_title, barmode=spec.barmode)
    return fig


def _style(
    fig: go.Figure,
    title: str,
    template: str,
    x_title: str,
    y_title: str,
    *,
    barmode: str | None = None,
) -> None:
    fig.update_layout(
        template=template,
        height=FIGURE_HEIGHT,
        font={"size": FONT_SIZE},
        title={"text": title, "font": {"size": TITLE_FONT_SIZE}, "x": 0.02, "xanchor": "left"},
        legend={"font": {"size": FONT_SIZE}, "groupclick": "toggleitem"},
        hoverlabel={"font": {"size": FONT_SIZE - 2}},
        margin={"l": 90, "r": 30, "t": 90, "b": 80},
        uniformtext={"minsize": FONT_SIZE - 6, "mode": "hide"},
    )
    if barmode:
        fig.update_layout(barmode=barmode)
    for trace in fig.data:
        # Plotly prints a bar's text template even where y is missing ("0.0" under no bar).
        if isinstance(trace, go.Bar) and isinstance(trace.texttemplate, str) and trace.y:
            template_text = trace.texttemplate
            trace.texttemplate = ["" if _num(y) is None else template_text for y in trace.y]
    fig.update_xaxes(title={"text": x_title, "font": {"size": AXIS_TITLE_FONT_SIZE}})
    fig.update_yaxes(title={"text": y_title, "font": {"size": AXIS_TITLE_FONT_SIZE}})


def _empty(title: str, template: str) -> go.Figure:
    fig = go.Figure()
    _style(fig, title, template, "", "")
    fig.add_annotation(
        text=EMPTY_MESSAGE,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": TITLE_FONT_SIZE},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def _check_template(template: str) -> None:
    if template not in THEMES:
        raise unknown_choice("chart template", template, list(THEMES))


def _reported_marker(color: str) -> dict[str, Any]:
    return {
        "symbol": "diamond-open",
        "size": 18,
        "color": color,
        "line": {"width": 3, "color": color},
    }


def _reported_bar_marker(color: str) -> dict[str, Any]:
    # Hatched and hollow, so reported bars read as different even in grayscale.
    return {
        "color": "rgba(0,0,0,0)",
        "line": {"color": color, "width": 2},
        "pattern": {"shape": "/", "fgcolor": color, "size": 8, "solidity": 0.3},
    }


def _curve(run: Run, key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one validation metric, by step; a repeated step keeps its last line."""
    points: dict[Any, tuple[float, float]] = {}
    for index, line in enumerate(run.validation):
        epoch, value = _num(line.get("epoch")), _num(line.get(key))
        if epoch is not None and value is not None:
            step = _num(line.get("step"))
            points[step if step is not None else ("line", index)] = (epoch, value)
    ordered = sorted(points.values(), key=lambda p: p[0])
    return [p[0] for p in ordered], [p[1] for p in ordered]


def _minutes_per_epoch(run: Run) -> float | None:
    seconds = sorted(
        s for s in (_num(m.get("epoch_seconds")) for m in run.validation) if s is not None and s > 0
    )
    if not seconds:
        return None
    middle = len(seconds) // 2
    median = seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) / 2
    return median / 60


def _reported_wer() -> dict[tuple[str, str], float]:
    """(size, mode) -> thesis WER %, from Table 4.4."""
    return _reported_by_size("whisper_wer", WER_REPORTED_COLUMNS)


def _reported_by_size(table: str, columns: Mapping[str, str]) -> dict[tuple[str, str], float]:
    frame = load_reference(table)
    values = {}
    for record in frame.to_dict("records"):
        for key, column in columns.items():
            value = _num(record.get(column))
            if value is not None:
                values[(str(record["size"]), key)] = value
    return values


def _reported_rouge_columns() -> list[str]:
    return [c for c in load_reference("rouge").columns if c.startswith("rouge")]


def _reported_rouge(dataset: str, family: str, mode: str, metric: str) -> float | None:
    """Thesis ROUGE x100 for a run's dataset/family/mode; dataset names match by substring."""
    if mode not in METHOD_ORDER:
        return None  # the thesis summarizers were not quantized
    frame = load_reference("rouge")
    if metric not in frame.columns:
        return None
    data, family = dataset.lower(), family.lower()
    for record in frame.to_dict("records"):
        if record["dataset"] in data and record["model"] == family and record["method"] == mode:
            return _num(record[metric])
    return None


def _summary_label(metric: str) -> str:
    if metric not in SUMMARY_METRICS:
        raise unknown_choice("summary metric", metric, list(SUMMARY_METRICS))
    return SUMMARY_METRICS[metric]


def _line_name(key: tuple[str, str, str], with_dataset: bool) -> str:
    data, family, mode = key
    name = f"{_family(family)} {_pretty(mode)}"
    return f"{name} · {data}" if with_dataset else name


def _family(family: str) -> str:
    return FAMILY_LABELS.get(family.lower(), family)


def _pretty(mode: str) -> str:
    """Mode label for legends: "int8+adalora" -> "int8+AdaLoRA"."""
    names = {"lora": "LoRA", "adalora": "AdaLoRA"}
    return "+".join(names.get(part, part) for part in mode.split("+"))


def _quantization(mode: str) -> str:
    head = mode.split("+")[0]
    return head if head in QUANTIZED_PRECISIONS else "full"


def _size_family(size: str) -> str:
    lowered = size.lower()
    return next((s for s in SIZE_ORDER if lowered.startswith(s)), lowered)


def _order_index(value: str | None, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


def _ordered(
    values: set[str], order: tuple[str, ...], key: Callable[[str], str] = str
) -> list[str]:
    return sorted(values, key=lambda v: (_order_index(key(v), order), v))


def _colors(keys: list[str], order: tuple[str, ...]) -> dict[str, str]:
    """Stable colours: a key gets its slot in ``order``, so tiny is the same blue everywhere."""
    extra = [k for k in keys if k not in order]
    return {
        k: PALETTE[(order.index(k) if k in order else len(order) + extra.index(k)) % len(PALETTE)]
        for k in keys
    }


def _cycle(count: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(count)]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _scaled(value: Any, factor: float = 100.0) -> float | None:
    number = _num(value)
    return None if number is None else number * factor


def _round(value: Any, digits: int) -> float | None:
    number = _num(value)
    return None if number is None else round(number, digits)

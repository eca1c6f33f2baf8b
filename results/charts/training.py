"""Training-run charts, modelled on the thesis's figures: WER per epoch (Figs 4.1/4.2),
ROUGE vs LoRA rank (Figs 3.2/3.3) and the final-metrics table (Tables 3.3/3.4/4.4). What
training costs (memory per precision, minutes per epoch) is ``results.charts.cost``.

Every builder is a pure function: runs (``results.runs.Run``) or rows in, a figure out.
Metric fractions (0..1, as in metrics.jsonl) are shown x100.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from demo.errors import unknown_choice
from demo.metrics import METRICS, SUMMARY_METRICS
from demo.runinfo import TEST_SPLIT
from results.charts.cost import minutes_per_epoch_of
from results.charts.style import (
    METHOD_ORDER,
    MODE_ORDER,
    REFERENCE_COLOR,
    REPORTED_EXTRA,
    REPORTED_SUFFIX,
    SIZE_ORDER,
    check_template,
    colors_for,
    cycle_colors,
    empty_figure,
    error_bars,
    family_label,
    num,
    order_index,
    ordered,
    pretty_mode,
    reported_marker,
    rounded,
    size_family,
    style_figure,
)
from results.charts.thesis import (
    REPORTED_WER_EPOCH,
    reported_rouge,
    reported_rouge_columns,
    reported_wer,
)
from results.paired import run_score_interval
from results.runs import Run, held_out_score, held_out_split, main_dataset


def _measured_line(x, y, name, group, color, marker_size, hover, **extra) -> go.Scatter:
    """A measured series: a thick line with markers (reported values are drawn apart)."""
    return go.Scatter(
        x=x, y=y, mode="lines+markers", name=name, legendgroup=group,
        line={"color": color, "width": 3}, marker={"size": marker_size}, hovertemplate=hover,
        **extra,
    )  # fmt: skip


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
    check_template(template)
    groupings = {"size": ("mode", mode, MODE_ORDER), "mode": ("size", size, SIZE_ORDER)}
    if group_by not in groupings:
        raise unknown_choice("grouping", group_by, list(groupings))
    fixed_field, fixed_value, fixed_order = groupings[group_by]
    line_order = SIZE_ORDER if group_by == "size" else MODE_ORDER

    # The thesis's cascade only: research systems' runs have their own charts (systems.py),
    # and an autoencoder probe's 200% WER would flatten the thesis's curves.
    asr = [r for r in runs if r.task == "asr" and not r.system and curve(r, "wer")[0]]
    if dataset is None:  # never one line per dataset on one axis: the most used one
        dataset = main_dataset(asr)
    asr = [r for r in asr if r.dataset == dataset]
    if fixed_value is None:
        present = [getattr(r, fixed_field) for r in asr]
        fixed_value = next(iter(ordered({v for v in present if v}, fixed_order)), None)
    chosen = [r for r in asr if getattr(r, fixed_field) == fixed_value]
    title = (
        f"WER per epoch: {pretty_mode(fixed_value) if fixed_value else 'no runs'}, by {group_by}"
        + (f" ({dataset})" if dataset else "")
    )
    if not chosen:
        return empty_figure(title, template)
    fig = go.Figure()

    keys = ordered({getattr(r, group_by) or "?" for r in chosen}, line_order)
    colors = colors_for(keys, line_order)
    chosen.sort(key=lambda r: (keys.index(getattr(r, group_by) or "?"), r.started_at, r.run_id))
    counts = {key: sum(getattr(r, group_by) == key for r in chosen) for key in keys}
    for run in chosen:
        key = getattr(run, group_by) or "?"
        epochs, values = curve(run, "wer")
        name = pretty_mode(key) if counts[key] == 1 else f"{pretty_mode(key)} ({run.run_id})"
        hover = f"{run.run_id}<br>epoch %{{x:.2f}}<br>WER %{{y:.1f}}%<extra></extra>"
        values = [v * 100 for v in values]
        fig.add_trace(_measured_line(epochs, values, name, key, colors[key], 9, hover))
    if show_reported:
        reported = reported_wer()
        for key in keys:
            size_key, mode_key = (key, fixed_value) if group_by == "size" else (fixed_value, key)
            value = reported.get((size_family(size_key), mode_key))
            if value is None:
                continue
            fig.add_trace(
                go.Scatter(
                    x=[REPORTED_WER_EPOCH],
                    y=[value],
                    mode="markers",
                    name=pretty_mode(key) + REPORTED_SUFFIX,
                    legendgroup=key,
                    marker=reported_marker(colors[key]),
                    hovertemplate=(
                        f"thesis Table 4.4, {pretty_mode(key)}<br>epoch %{{x}}<br>"
                        "WER %{y:.1f}%" + REPORTED_EXTRA
                    ),
                )
            )
    style_figure(fig, title, template, "Epoch", "WER (%)")
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
    """Final ROUGE (x100; the test split where scored, else the last validation) vs LoRA rank r
    on a log2 axis, one line per model x method (Figs 3.2/3.3).

    When several runs share a rank the most recent one is drawn. With ``show_reported`` the
    thesis' full / best-rank LoRA / AdaLoRA values (Tables 3.3/3.4) are dashed horizontal
    lines "<model> <method> (reported)".
    """
    check_template(template)
    label = summary_label(metric)
    runs = [
        r
        for r in runs
        if r.task == "summarization"
        and r.method in ("lora", "adalora")
        and r.rank is not None
        and held_out_score(r, metric) is not None
        and (dataset is None or r.dataset == dataset)
    ]
    title = f"{label} vs LoRA rank" + (f" ({dataset})" if dataset else "")
    if not runs:
        return empty_figure(title, template)

    lines: dict[tuple[str, str, str], dict[int, Run]] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        key = (run.dataset or "?", run.family or run.model or "?", run.mode or "?")
        lines.setdefault(key, {})[run.rank] = run  # later runs replace earlier ones
    keys = sorted(lines, key=lambda k: (k[0], k[1], order_index(k[2], MODE_ORDER)))
    several_datasets = len({k[0] for k in keys}) > 1
    colors = dict(zip(keys, cycle_colors(len(keys)), strict=True))
    ranks = sorted({r.rank for r in runs})
    fig = go.Figure()
    for key in keys:
        points = sorted(lines[key].items())
        name = _line_name(key, several_datasets)
        hover = f"%{{customdata}}<br>r=%{{x}}<br>{label} %{{y:.1f}}<extra></extra>"
        scores = [held_out_score(run, metric) * 100 for _, run in points]
        # 95% bootstrap over the documents, for runs that kept each one's output
        bars = [run_score_interval(run, held_out_split(run), metric) for _, run in points]
        trace = _measured_line([rank for rank, _ in points], scores, name, name, colors[key], 10,
                               hover, customdata=[f"{run.run_id} ({held_out_split(run)})"
                                                  for _, run in points],
                               error_y=error_bars(bars, scores))  # fmt: skip
        fig.add_trace(trace)
    if show_reported and metric in reported_rouge_columns():
        span = [ranks[0], ranks[-1]] if len(ranks) > 1 else [ranks[0] / 2, ranks[0] * 2]
        drawn: set[tuple[str, str, str]] = set()
        for data, family, _ in keys:
            for method in METHOD_ORDER:
                value = reported_rouge(data, family, method, metric)
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
                        hovertemplate=f"thesis, {name}<br>{label} %{{y:.1f}}" + REPORTED_EXTRA,
                    )
                )
    style_figure(fig, title, template, "LoRA rank r (log2 scale)", f"{label} (x100)")
    fig.update_xaxes(type="log", tickvals=ranks, ticktext=[str(r) for r in ranks])
    return fig


# Test-split scores the final table shows beside the validation ones.
HELD_OUT_METRICS = ("wer", "rouge1", "rougeL")


def final_metrics_table(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run with its last validation metrics and its test-split WER / ROUGE where
    scored, as in Tables 3.3/3.4/4.4 (measured only).

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
            order_index(r.mode, MODE_ORDER),
            r.rank or 0,
        )
    )
    present = [key for key in METRICS if any(num(r.final.get(key)) is not None for r in runs)]
    for run in runs:
        final = run.final
        row = {
            "Run": run.run_id,
            "Task": run.task,
            "Dataset": run.dataset,
            "Model": run.model,
            "Mode": run.mode,
            "Rank": run.rank,
            "Epoch": num(final.get("epoch")),
            "Status": run.status,
        }
        for key in present:
            row[METRICS[key].title] = METRICS[key].shown(num(final.get(key)))
        for key in HELD_OUT_METRICS:  # the held-out test split, scored once after training
            if any(num(r.split(TEST_SPLIT).get(key)) is not None for r in runs):
                row[f"Test {METRICS[key].title}"] = METRICS[key].shown(
                    num(run.split(TEST_SPLIT).get(key))
                )
        row["Trainable (%)"] = rounded(getattr(run.info, "trainable_pct", None), 2)
        row["Minutes/epoch"] = rounded(minutes_per_epoch_of(run), 1)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["Run", "Task", "Dataset", "Model", "Mode", "Rank", "Epoch"])
    return pd.DataFrame(rows)


def curve(run: Run, key: str) -> tuple[list[float], list[float]]:
    """(epochs, values) of one validation metric, by step; a repeated step keeps its last line."""
    points: dict[Any, tuple[float, float]] = {}
    for index, line in enumerate(run.validation):
        epoch, value = num(line.get("epoch")), num(line.get(key))
        if epoch is not None and value is not None:
            step = num(line.get("step"))
            points[step if step is not None else ("line", index)] = (epoch, value)
    ordered = sorted(points.values(), key=lambda p: p[0])
    return [p[0] for p in ordered], [p[1] for p in ordered]


def summary_label(metric: str) -> str:
    if metric not in SUMMARY_METRICS:
        raise unknown_choice("summary metric", metric, list(SUMMARY_METRICS))
    return METRICS[metric].label


def _line_name(key: tuple[str, str, str], with_dataset: bool) -> str:
    data, family, mode = key
    name = f"{family_label(family)} {pretty_mode(mode)}"
    return f"{name} · {data}" if with_dataset else name

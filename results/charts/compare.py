"""Bars per configuration, for the Compare view and the benchmark rows.

Rows are flat dicts with a "config" label (``dashboard.compare_view`` records, benchmark
result rows); metric fractions are shown x100 as ``demo.metrics.METRICS`` says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from demo.errors import unknown_choice
from demo.metrics import FAITHFULNESS_METRICS, METRICS, SUMMARY_METRICS
from results.charts.style import (
    check_template,
    cycle_colors,
    empty_figure,
    error_bars,
    num,
    scaled,
    style_figure,
)
from results.paired import document_interval


class _BarSpec(NamedTuple):
    title: str
    y_title: str
    series: dict[str, str]  # row key -> trace name
    scale: float  # x100 for fractions
    barmode: str  # "group" or "stack"
    text_format: str  # texttemplate number format


_STAGES = {"load_s": "Load", "asr_s": "Transcribe", "summarize_s": "Summarize"}
_MEMORY = {"weights_mb": "Weights", "peak_rss_mb": "Peak RSS"}


def _metric_bars(key: str) -> _BarSpec:
    metric = METRICS[key]
    return _BarSpec(metric.label, metric.title, {key: metric.label}, metric.scale, "group", ".1f")


def _time_bars(key: str, title: str, name: str) -> _BarSpec:
    return _BarSpec(title, "Time (s)", {key: name}, 1.0, "group", ".2f")


COMPARE_METRICS = {
    "latency": _BarSpec("Time per stage", "Time (s)", _STAGES, 1.0, "stack", ".2f"),
    "memory": _BarSpec("Memory", "Memory (MB)", _MEMORY, 1.0, "group", ".0f"),
    "total_s": _time_bars("total_s", "Total time", "Total"),
    "load_s": _time_bars("load_s", "Model load time", "Load"),
    "asr_s": _time_bars("asr_s", "Transcription time", "Transcribe"),
    "summarize_s": _time_bars("summarize_s", "Summarization time", "Summarize"),
    "weights_mb": _BarSpec("Model weights", "Weights (MB)", {"weights_mb": "Weights"}, 1.0,
                           "group", ".0f"),
    "peak_rss_mb": _BarSpec("Peak memory", "Peak RSS (MB)", {"peak_rss_mb": "Peak RSS"}, 1.0,
                            "group", ".0f"),
    **{key: _metric_bars(key) for key in ("wer", "cer", *SUMMARY_METRICS, *FAITHFULNESS_METRICS)},
    # Grouped views for the Compare tab: all transcript errors, all summary scores.
    "errors": _BarSpec(
        "Transcript errors vs reference", "Error rate (%)", {"wer": "WER", "cer": "CER"},
        100.0, "group", ".1f",
    ),
    "summary": _BarSpec(
        "Summary vs reference", "Score (x100)",
        {k: METRICS[k].label for k in SUMMARY_METRICS if k != "rougeLsum"}, 100.0, "group", ".1f",
    ),
}  # fmt: skip


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


def _bar_chart(rows: list[Mapping[str, Any]], spec: _BarSpec, template: str) -> go.Figure:
    check_template(template)
    configs: list[str] = []
    by_config: dict[str, Mapping[str, Any]] = {}
    for row in rows:
        config = str(row.get("config") or "?")
        if config not in by_config:
            configs.append(config)
        by_config[config] = row  # a repeated config keeps its last row
    has_values = any(num(by_config[c].get(k)) is not None for c in configs for k in spec.series)
    if not has_values:
        return empty_figure(spec.title, template)
    fig = go.Figure()
    colors = cycle_colors(len(spec.series))
    for (key, name), color in zip(spec.series.items(), colors, strict=True):
        values = [scaled(by_config[c].get(key), spec.scale) for c in configs]
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
    style_figure(fig, spec.title, template, "Configuration", spec.y_title, barmode=spec.barmode)
    return fig


def summarizer_bench(
    rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"
) -> go.Figure:
    """bench.summarize's rows: decode speed per engine as a ratio to fp32 ``generate`` (the
    speed runs, measured side by side) and ROUGE-L of the engines scored on the largest paper
    count (the quality runs; a speed run's two papers are no ROUGE measurement)."""
    check_template(template)
    rows = [r for r in rows if r.get("kind") == "summarizer"]
    speed = {r["engine"]: r for r in rows if num(r.get("decode_speedup_vs_fp32_generate"))}
    scored = [r for r in rows if num((r.get("scores") or {}).get("rougeL")) is not None]
    most = max((int(r.get("docs") or 0) for r in scored), default=0)  # a 2-paper speed run's
    quality = {r["engine"]: r for r in scored if int(r.get("docs") or 0) == most}  # ROUGE: no
    title = "LLM summarizer per engine (bench.summarize, ACLSum)"
    if not speed and not quality:
        return empty_figure(title, template)
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            "Decode speed (x fp32 generate, same rounds)",
            f"ROUGE-L (x100) on {most} ACLSum test papers",
        ),
    )
    color = cycle_colors(2)
    fig.add_trace(
        go.Bar(x=list(speed), y=[speed[e]["decode_speedup_vs_fp32_generate"] for e in speed],
               name="decode speed", marker={"color": color[0]}, texttemplate="%{y:.2f}x",
               textposition="outside",
               hovertemplate="%{x}<br>%{y:.2f}x fp32 generate<extra></extra>"),
        row=1, col=1,
    )  # fmt: skip
    values = [scaled(quality[e]["scores"]["rougeL"]) for e in quality]
    # 95% bootstrap interval over the papers where the file keeps per-paper scores
    bars = [document_interval(quality[e].get("summaries"), "rougeL") for e in quality]
    fig.add_trace(
        go.Bar(x=list(quality), y=values,
               name="ROUGE-L", marker={"color": color[1]}, texttemplate="%{y:.1f}",
               textposition="outside",
               customdata=[quality[e].get("docs") for e in quality],
               error_y=error_bars(bars, values),
               hovertemplate="%{x}<br>ROUGE-L %{y:.1f} on %{customdata} papers<extra></extra>"),
        row=1, col=2,
    )  # fmt: skip
    style_figure(fig, title, template, "", "")
    return fig

"""Reported vs measured, like with like: ratios and rankings, not absolute scores.

Our data are not the thesis's (How2 speech, Gazeta and WikiHow text), so absolute WER or ROUGE
side by side would mislead. What compares is relative: a mode's WER over the same size's full
fine-tuning, a method's ROUGE over full fine-tuning of the same model, memory of a precision
over fp16, minutes per epoch of a quantized mode over full precision, the share of
parameters that train. Every chart names both datasets; reported bars are hatched and named
"(reported)", never merged with measured ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from results.charts.cost import minutes_per_epoch_of
from results.charts.style import (
    MODE_ORDER,
    SIZE_ORDER,
    check_template,
    colors_for,
    empty_figure,
    family_label,
    measured_bar,
    num,
    ordered,
    pretty_mode,
    quantization_of,
    reported_bar,
    size_family,
    style_figure,
)
from results.charts.thesis import (
    MEMORY_REPORTED_COLUMNS,
    TRAIN_TIME_REPORTED_COLUMNS,
    reported_by_size,
    reported_rouge,
    reported_wer,
)
from results.charts.training import summary_label
from results.runs import Run, main_dataset

THESIS_SPEECH = "How2"
THESIS_TEXT = "Gazeta, WikiHow"
PEFT_MODES = tuple(m for m in MODE_ORDER if m != "full")


def final_score(run: Run, key: str) -> float | None:
    """A run's final ``key``: on the test split when it was evaluated there, else the last
    validation line."""
    test = num(run.split("test").get(key))
    return test if test is not None else num(run.final.get(key))


def latest_by(runs: Iterable[Run], key: Callable[[Run], Any | None]) -> dict[Any, Run]:
    """The most recent run for each value of ``key`` (runs where it is None are skipped)."""
    out: dict[Any, Run] = {}
    for run in sorted(runs, key=lambda r: (r.started_at, r.run_id)):
        value = key(run)
        if value is not None:
            out[value] = run
    return out


def grid_runs(runs: Iterable[Run]) -> list[Run]:
    """The completed Whisper runs of the thesis's cascade (no research system) on the dataset
    most of them used: the grid's cells, other corpora and the systems' own runs left out."""
    asr = [r for r in runs if r.task == "asr" and r.size and r.mode and not r.system
           and r.status == "completed"]  # fmt: skip
    dataset = main_dataset(asr)
    return [r for r in asr if r.dataset == dataset]


def wer_cells(runs: Iterable[Run]) -> dict[tuple[str, str], Run]:
    """Each (size, mode)'s run: the one with the lowest final validation WER, so a mode tried
    at several learning rates counts at its best, chosen on validation as a tuned grid would;
    its test WER is what the findings compare."""
    best: dict[tuple[str, str], Run] = {}
    for run in grid_runs(runs):
        wer = num(run.final.get("wer"))
        held = best.get((run.size, run.mode))
        if (
            wer is not None
            and final_score(run, "wer") is not None
            and (held is None or wer < num(held.final.get("wer")))
        ):
            best[(run.size, run.mode)] = run
    return best


def _datasets(runs: Iterable[Run]) -> str:
    names = sorted({r.dataset for r in runs if r.dataset})
    return ", ".join(names) or "our data"


def _over_full(best: Mapping[tuple[str, str], Run], value: Callable[[Run], Any]) -> dict:
    """(size, mode) -> value of that run / value of the same size's full fine-tuning."""
    measured = {}
    for (size, mode), run in best.items():
        full = best.get((size, "full"))
        if mode != "full" and full is not None and value(full):
            measured[(size, mode)] = value(run) / value(full)
    return measured


def paired_bars(
    title: str, x_title: str, y_title: str, groups: list[str], series: list[str],
    measured: Mapping[tuple[str, str], float], reported: Mapping[tuple[str, str], float],
    *, colors: Mapping[str, str], template: str, fmt: str = ".2f", unit: str = "",
    series_label: Callable[[str], str] = pretty_mode,
) -> go.Figure:  # fmt: skip
    """Grouped bars: for each series a solid measured trace and a hatched reported one."""
    fig = go.Figure()
    for name in series:
        label = series_label(name)
        values = [measured.get((g, name)) for g in groups]
        if any(v is not None for v in values):
            hover = f"{label}<br>%{{x}}: %{{y:{fmt}}}{unit} (measured)"
            fig.add_trace(measured_bar(groups, values, label, colors[name], hover, fmt=fmt))
        values = [reported.get((g, name)) for g in groups]
        if any(v is not None for v in values):
            hover = f"{label}<br>%{{x}}: %{{y:{fmt}}}{unit}"
            fig.add_trace(
                reported_bar(groups, values, label, colors[name], hover, group=label, fmt=fmt)
            )
    style_figure(fig, title, template, x_title, y_title, barmode="group")
    return fig


def _ratios_by_size(title, y_title, sizes, modes, measured, reported, baseline, template):
    """Ratios per Whisper size and mode, measured beside reported, 1.0 marked as ``baseline``."""
    fig = paired_bars(
        title, "Whisper size", y_title, sizes, modes, measured, reported,
        colors=colors_for(modes, MODE_ORDER), template=template, unit="x",
    )  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", annotation_text=baseline)
    return fig


def relative_wer(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Each PEFT mode's final WER over the same size's full fine-tuning (1.0 = as good),
    measured on our corpus beside the thesis's Table 4.4 on How2."""
    check_template(template)
    best = wer_cells(runs)
    title = (
        f"WER relative to full fine-tuning (ours: {_datasets(best.values())}; "
        f"thesis: {THESIS_SPEECH}, Table 4.4)"
    )
    measured = _over_full(best, lambda run: final_score(run, "wer"))
    thesis = reported_wer()
    reported = {
        (size, mode): value / thesis[(size, "full")]
        for (size, mode), value in thesis.items()
        if mode != "full" and (size, "full") in thesis
    }
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in measured}, SIZE_ORDER, key=size_family)
    reported = {(s, m): v for (s, m), v in reported.items() if s in sizes}
    modes = ordered({m for _, m in (*measured, *reported)}, MODE_ORDER)
    return _ratios_by_size(title, "WER / WER of full fine-tuning", sizes, modes, measured,
                           reported, "full fine-tuning", template)  # fmt: skip


def relative_rouge(
    runs: Iterable[Run], *, metric: str = "rouge1", template: str = "plotly_white"
) -> go.Figure:
    """Each method's best-rank ROUGE over full fine-tuning of the same model and dataset,
    measured beside the thesis's Tables 3.3/3.4 (mBART and T5 on Gazeta and WikiHow)."""
    check_template(template)
    label = summary_label(metric)
    summ = [r for r in runs if r.task == "summarization" and r.mode]
    title = (
        f"{label} relative to full fine-tuning (ours: {_datasets(summ)}; "
        f"thesis: {THESIS_TEXT}, Tables 3.3/3.4)"
    )
    best: dict[tuple[str, str], float] = {}  # (model · dataset, mode) -> best final score
    for run in summ:
        value = final_score(run, metric)
        group = f"{family_label(run.family or run.model or '?')} · {run.dataset or '?'}"
        if value is not None and value > best.get((group, run.mode), -1.0):
            best[(group, run.mode)] = value
    measured = {
        (g, m): v / best[(g, "full")]
        for (g, m), v in best.items()
        if m != "full" and best.get((g, "full"))
    }
    reported = {}
    for dataset in ("gazeta", "wikihow"):
        for family in ("mbart", "t5"):
            full = reported_rouge(dataset, family, "full", metric)
            for method in ("lora", "adalora"):
                value = reported_rouge(dataset, family, method, metric)
                if full and value is not None:
                    reported[(f"{family_label(family)} · {dataset} (thesis)", method)] = (
                        value / full
                    )
    if not measured:
        return empty_figure(title, template)
    groups = sorted({g for g, _ in measured}) + sorted({g for g, _ in reported})
    modes = ordered({m for _, m in (*measured, *reported)}, MODE_ORDER)
    fig = paired_bars(
        title, "Model · dataset", f"{label} / {label} of full fine-tuning", groups, modes,
        measured, reported, colors=colors_for(modes, MODE_ORDER), template=template, unit="x",
    )  # fmt: skip
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="full fine-tuning")
    return fig


def memory_ratios(
    rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"
) -> go.Figure:
    """Weights of int8 and NF4 over fp16 per Whisper size (benchmark rows beside Table 4.2)."""
    check_template(template)
    title = "Weights relative to fp16 (ours: bench.memory; thesis: Table 4.2)"
    weights = {}
    for row in rows:
        value = num(row.get("weights_mb"))
        if value and row.get("size") and row.get("precision"):
            weights[(size_family(str(row["size"])), str(row["precision"]))] = value
    measured = {
        (size, p): v / weights[(size, "fp16")]
        for (size, p), v in weights.items()
        if p in ("int8", "nf4") and weights.get((size, "fp16"))
    }
    thesis = reported_by_size("whisper_memory", MEMORY_REPORTED_COLUMNS)
    reported = {
        (size, p): v / thesis[(size, "fp16")]
        for (size, p), v in thesis.items()
        if p in ("int8", "nf4") and (size, "fp16") in thesis
    }
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in (*measured, *reported)}, SIZE_ORDER)
    series = ["int8", "nf4"]
    return paired_bars(
        title, "Whisper size", "Weights / fp16 weights", sizes, series, measured, reported,
        colors=colors_for(series, ("fp32", "fp16", "bf16", "int8", "nf4")), template=template,
        unit="x", series_label=str,
    )  # fmt: skip


def time_ratios(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Minutes per epoch of each quantized mode over full precision of the same size.

    The thesis trained on a GPU, where bitsandbytes kernels are fast; on a CPU they are slower
    than fp32, so above 1 here is what we measure, not a fault.
    """
    check_template(template)
    best = {key: run for key, run in wer_cells(runs).items() if minutes_per_epoch_of(run)}
    title = (
        f"Minutes per epoch relative to full precision (ours: {_datasets(best.values())}, CPU; "
        f"thesis: {THESIS_SPEECH}, GPU, Table 4.3)"
    )
    measured = _over_full(best, minutes_per_epoch_of)  # best keeps runs with minutes only
    thesis = reported_by_size("whisper_train_time", TRAIN_TIME_REPORTED_COLUMNS)
    reported = {}
    for size, mode in measured:
        base = thesis.get((size, "full"))
        value = thesis.get((size, quantization_of(mode)))
        if base and value and quantization_of(mode) != "full":
            reported[(size, mode)] = value / base
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in measured}, SIZE_ORDER)
    modes = ordered({m for _, m in measured}, MODE_ORDER)
    return _ratios_by_size(title, "Minutes per epoch / full precision's", sizes, modes,
                           measured, reported, "full precision", template)  # fmt: skip


def trainable_share(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Share of parameters that train, per Whisper size and PEFT mode (thesis: AdaLoRA)."""
    check_template(template)
    asr = [r for r in grid_runs(runs) if r.mode in PEFT_MODES]
    best = latest_by(asr, lambda r: (r.size, r.mode) if r.info and r.info.trainable_pct else None)
    title = f"Trainable parameters, % (ours: {_datasets(best.values())}; thesis: Table 4.2)"
    measured = {key: run.info.trainable_pct for key, run in best.items()}
    thesis = reported_by_size("whisper_memory", {"adalora": "adalora_trainable_pct"})
    reported = {}
    for size, mode in measured:
        if mode.endswith("adalora") and (size, "adalora") in thesis:
            reported[(size, mode)] = thesis[(size, "adalora")]
    if not measured:
        return empty_figure(title, template)
    sizes = ordered({s for s, _ in measured}, SIZE_ORDER)
    modes = ordered({m for _, m in measured}, MODE_ORDER)
    return paired_bars(
        title, "Whisper size", "Trainable parameters (%)", sizes, modes,
        measured, reported, colors=colors_for(modes, MODE_ORDER), template=template, unit="%",
    )  # fmt: skip

"""The Training runs view: what is under the checkpoints folder, filtered, as charts.

Runs and benchmark results are read from disk on every call, so a run still training shows
its latest epoch on reload.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from demo.settings import settings
from results.bench_files import load_bench
from results.charts import compare as compare_charts
from results.charts import corpus, cost, systems
from results.charts import training as charts
from results.charts.faithfulness import faithfulness_bench
from results.charts.style import MODE_ORDER, SIZE_ORDER
from results.runs import Run, field_values, filter_runs, list_runs

ALL = "all"  # filter value meaning "any"

RUN_FILTERS = ("dataset", "model", "method", "precision")


@dataclass
class RunSet:
    """What is on disk under the checkpoints folder right now."""

    root: Path
    runs: list[Run] = field(default_factory=list)
    bench_rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "<where>: <sentence>"


def load_run_set(root: str | Path | None = None) -> RunSet:
    """Read every run and benchmark file under ``root`` (default: ``DEMO_CHECKPOINTS``).

    Never raises for what is inside: damaged runs and benchmark files become warnings.
    """
    base = Path(root) if root is not None else settings().checkpoints
    runs = list_runs(base)
    warnings = [f"{run.run_id}: {w}" for run in runs for w in run.warnings]
    bench_rows, bench_warnings = load_bench(base)
    return RunSet(base, runs, bench_rows, warnings + bench_warnings)


def filter_choices(runs: Iterable[Run]) -> dict[str, list[str]]:
    """Dropdown choices per filter in ``RUN_FILTERS``: "all" then the values present."""
    runs = list(runs)
    return {name: [ALL] + [str(v) for v in field_values(runs, name)] for name in RUN_FILTERS}


def apply_filters(runs: Iterable[Run], **selected: str | None) -> list[Run]:
    """Runs matching every filter; "all", "" or None means any value."""
    criteria = {k: v for k, v in selected.items() if v not in (None, "", ALL)}
    return filter_runs(runs, **criteria)


def wer_choices(runs: Iterable[Run]) -> tuple[list[str], list[str]]:
    """(modes, sizes) of the Whisper runs with a WER, in the thesis' order."""
    asr = [r for r in runs if r.task == "asr" and any("wer" in m for m in r.validation)]
    modes = _in_order({r.mode for r in asr if r.mode}, MODE_ORDER)
    sizes = _in_order({r.size for r in asr if r.size}, SIZE_ORDER)
    return modes, sizes


def runs_summary_markdown(run_set: RunSet, shown: int) -> str:
    """One line on what was read, then the warnings as a list (shown, never raised)."""
    text = (
        f"**{len(run_set.runs)} runs** in `{run_set.root.name}/` ({shown} shown after filters)"
        f", **{len(run_set.bench_rows)} benchmark rows**."
    )
    if not run_set.runs:
        text += " No training runs yet: the training scripts write them there."
    if run_set.warnings:
        text += "\n\n" + "\n".join(f"- ⚠️ {_escape(w)}" for w in run_set.warnings)
    return text


def memory_rows(runs: Iterable[Run], bench_rows: Iterable[Mapping[str, Any]] = ()) -> list[dict]:
    """``{"size", "precision", "weights_mb"}`` rows for ``cost.memory_per_precision``.

    From each Whisper run's ``weights_footprint_mb`` and any benchmark row that names a size
    and a precision.
    """
    rows = []
    for run in runs:
        value = getattr(run.info, "weights_footprint_mb", None)
        if run.task == "asr" and run.size and run.precision and value is not None:
            rows.append({"size": run.size, "precision": run.precision, "weights_mb": value})
    rows.extend(
        dict(r) for r in bench_rows if r.get("size") and r.get("precision") and "weights_mb" in r
    )
    return rows


def training_figures(
    runs: Sequence[Run],
    bench_rows: Sequence[Mapping[str, Any]] = (),
    *,
    template: str = "plotly_white",
    mode: str | None = None,
    size: str | None = None,
    metric: str = "rouge1",
    show_reported: bool = False,
) -> dict[str, go.Figure]:
    """The Training runs view's charts, keyed by a file-friendly name."""
    kw = {"template": template, "show_reported": show_reported}
    return {
        "wer_per_epoch_by_size": charts.wer_per_epoch(runs, group_by="size", mode=mode, **kw),
        "wer_per_epoch_by_mode": charts.wer_per_epoch(runs, group_by="mode", size=size, **kw),
        "real_speech_wer": corpus.real_speech_wer(runs, bench_rows, template=template),
        "rouge_vs_rank": charts.rouge_vs_rank(runs, metric=metric, **kw),
        "memory_per_precision": cost.memory_per_precision(memory_rows(runs, bench_rows), **kw),
        "minutes_per_epoch": cost.minutes_per_epoch(runs, **kw),
        **bench_figures(bench_rows, template=template),
        **system_figures(runs, bench_rows, template=template),
    }


# The Research systems sub-tab's figures, in order (keys of system_figures).
SYSTEM_FIGURES = (
    "latent_savings", "latent_wer", "lowrank_arms", "bridge_wer_vs_queries", "e2e_vs_cascade"
)  # fmt: skip


def system_figures(
    runs: Sequence[Run], bench_rows: Sequence[Mapping[str, Any]] = (), *, template: str
) -> dict[str, go.Figure]:
    """Latent-space compression, low-rank Whisper, the Q-Former bridge and the E2E model."""
    rows = list(bench_rows)
    return {
        "latent_savings": systems.latent_savings(rows, template=template),
        "latent_wer": systems.latent_wer(rows, template=template),
        "lowrank_arms": systems.lowrank_arms(runs, template=template),
        "bridge_wer_vs_queries": systems.bridge_wer_vs_queries(rows, template=template),
        "e2e_vs_cascade": systems.e2e_vs_cascade(rows, template=template),
    }


@dataclass
class TrainingView:
    """Everything the Training runs view shows for one set of widget values."""

    runs: list[Run]  # after the filters
    choices: dict[str, list[str]]  # filter name -> dropdown choices ("all" first)
    selected: dict[str, str]  # filter name -> value kept ("all" when no longer offered)
    modes: list[str]  # choices for the WER-by-size chart's mode
    sizes: list[str]  # choices for the WER-by-mode chart's size
    mode: str | None
    size: str | None
    figures: dict[str, go.Figure]


def training_view(
    run_set: RunSet,
    filters: Mapping[str, str | None],
    *,
    mode: str | None = None,
    size: str | None = None,
    metric: str = "rouge1",
    show_reported: bool = False,
    template: str = "plotly_white",
) -> TrainingView:
    """Apply the filters (a value no longer present falls back to "all"), pick a mode and
    size that exist, and build the charts."""
    choices = filter_choices(run_set.runs)
    selected = {
        name: value if (value := filters.get(name)) in choices[name] else ALL
        for name in RUN_FILTERS
    }
    runs = apply_filters(run_set.runs, **selected)
    modes, sizes = wer_choices(runs)
    mode = mode if mode in modes else (modes[0] if modes else None)
    size = size if size in sizes else (sizes[0] if sizes else None)
    figures = training_figures(
        runs,
        run_set.bench_rows,
        template=template,
        mode=mode,
        size=size,
        metric=metric,
        show_reported=show_reported,
    )
    return TrainingView(runs, choices, selected, modes, sizes, mode, size, figures)


def bench_figures(
    bench_rows: Sequence[Mapping[str, Any]], *, template: str = "plotly_white"
) -> dict[str, go.Figure]:
    """Speech-recognition benchmark latency, memory and WER per configuration, and the LLM
    summarizer's speed and ROUGE-L per engine ("No runs yet" when none); the research
    systems' benchmark rows have their own charts."""
    # A run bench.asr stopped at its cap has no time to chart (benchmarks.md says "stopped").
    rows = [r for r in bench_rows if r.get("kind", "asr") == "asr" and not r.get("capped")]
    return {
        "bench_latency": compare_charts.bench_latency(rows, template=template),
        "bench_memory": compare_charts.bench_memory(rows, template=template),
        "bench_wer": compare_charts.compare_bars(rows, "wer", template=template),
        "bench_summarizer": compare_charts.summarizer_bench(bench_rows, template=template),
        "bench_faithfulness": faithfulness_bench(bench_rows, template=template),
    }


def _in_order(values: set[str], order: Sequence[str]) -> list[str]:
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def _escape(text: str | None) -> str:
    return html.escape(text or "")

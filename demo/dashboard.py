"""What the app's views show, built from runs, benchmark rows and pipeline results.

Pure helpers (no gradio): the app passes widget values in and puts what comes back into its
components. Runs and benchmark results are read from disk on every call, so a run still
training shows its latest epoch on reload. Settings come from environment variables, read
when asked for, never at import time.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from demo import charts
from demo.compare import (
    ASR_KEYS,
    SUMMARY_KEYS,
    CompareRow,
    diff_html,
    diff_legend_html,
    records,
)
from demo.errors import DemoError
from demo.pipeline import PipelineResult
from demo.runs import (
    Run,
    field_values,
    filter_runs,
    list_runs,
    load_reference,
)

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_ENV = "DEMO_CHECKPOINTS"  # runs and adapters folder (default: checkpoints/)
QUEUE_SIZE_ENV = "DEMO_QUEUE_SIZE"  # requests allowed to wait in the queue
CONCURRENCY_ENV = "DEMO_CONCURRENCY"  # requests processed at once
MAX_UPLOAD_MB_ENV = "DEMO_MAX_UPLOAD_MB"  # largest upload accepted
MAX_SECONDS_ENV = "DEMO_MAX_SECONDS"  # longest clip accepted
BENCH_DIR = "bench"  # <checkpoints>/bench/*.json: benchmark rows
MAX_BENCH_FILES = 200
MAX_BENCH_BYTES = 4 * 1024 * 1024
ALL = "all"  # filter value meaning "any"
RUN_FILTERS = ("dataset", "model", "method", "precision")
THEMES = {"light": "plotly_white", "dark": "plotly_dark"}
IMAGE_SUFFIXES = (".png", ".svg")
LATENCY_HEADERS = ["stage", "s"]
MEMORY_HEADERS = ["weights / process", "MB", "cached"]
SCORE_HEADERS = ["score", "value"]
SCORE_LABELS = {
    "wer": "WER (%)",
    "cer": "CER (%)",
    "rouge1": "ROUGE-1 (x100)",
    "rouge2": "ROUGE-2 (x100)",
    "rougeL": "ROUGE-L (x100)",
    "rougeLsum": "ROUGE-Lsum (x100)",
    "rougeS": "ROUGE-S (x100)",
    "embedding_similarity": "Embedding similarity (x100)",
}
# Compare table: record key -> short column title (the table's label gives the units).
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
}
COMPARE_TABLE_LABEL = (
    "Results: times in s, memory in MB, WER/CER in %, ROUGE (R-) and embedding similarity x100"
)
REFERENCE_TITLES = {
    "whisper_wer": "WER (%) after 6 epochs, Table 4.4",
    "whisper_memory": "Model size (MB) per precision, Table 4.2",
    "whisper_train_time": "Minutes per epoch (40 h of audio), Table 4.3",
    "rouge": "ROUGE (x100) of the summarizers, Tables 3.3/3.4",
}


@dataclass(frozen=True)
class AppSettings:
    checkpoints: Path  # where runs, adapters and benchmark results are read from
    queue_size: int = 16  # requests that may wait; one more gets "busy, try again"
    concurrency: int = 1  # pipelines at once: two CPU cores, one run keeps timings honest
    max_upload_mb: float = 50.0  # uploads above this are refused by the server
    max_seconds: float = 600.0  # clips longer than this are refused with a message

    def __post_init__(self) -> None:
        for name in ("queue_size", "concurrency", "max_upload_mb", "max_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """Settings from ``DEMO_*`` environment variables, defaults for those unset."""
        env = os.environ if environ is None else environ
        defaults = cls(checkpoints=ROOT / "checkpoints")
        return cls(
            checkpoints=Path(env.get(CHECKPOINTS_ENV) or defaults.checkpoints),
            queue_size=_env_number(env, QUEUE_SIZE_ENV, defaults.queue_size, int),
            concurrency=_env_number(env, CONCURRENCY_ENV, defaults.concurrency, int),
            max_upload_mb=_env_number(env, MAX_UPLOAD_MB_ENV, defaults.max_upload_mb, float),
            max_seconds=_env_number(env, MAX_SECONDS_ENV, defaults.max_seconds, float),
        )


def checkpoints_root() -> Path:
    """The runs folder now: ``$DEMO_CHECKPOINTS`` or ``checkpoints/`` beside the app."""
    return AppSettings.from_env().checkpoints


def chart_template(theme: str) -> str:
    """Plotly template for the app theme ("light"/"dark")."""
    return THEMES.get(theme, THEMES["light"])


# --------------------------------------------------------------------------- Try it


def latency_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[stage, seconds]`` for load, ASR, summary, total, then the real-time factor."""
    t = result.timings
    names = {"load": "load models", "asr": "transcribe", "summarize": "summarize"}
    rows = [[names.get(s, s), round(t[s], 2)] for s in ("load", "asr", "summarize", "total")]
    rows.append(["RTFx", round(result.rtfx, 1)])  # audio seconds per transcription second
    return rows


def memory_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[what, MB, cached]``: weights of each model, then the process peaks."""
    o, mem = result.options, result.memory
    asr_name = f"Whisper {o.asr} ({o.quant}{' + adapter' if o.asr_adapter else ''})"
    summ_name = f"Summarizer {o.summarizer}{' + adapter' if o.summarizer_adapter else ''}"
    rows = [
        [asr_name, round(mem["asr"].weights_mb, 1), _yes(mem["asr"].cached)],
        [summ_name, round(mem["summarizer"].weights_mb, 1), _yes(mem["summarizer"].cached)],
        ["Process peak RSS", round(result.peak_rss_mb, 1), ""],
    ]
    if result.cuda_peak_mb is not None:
        rows.append(["CUDA peak allocated", round(result.cuda_peak_mb, 1), ""])
    return rows


def info_markdown(result: PipelineResult) -> str:
    """Language, device and the pipeline's notes (e.g. "bnb int8 is slow on CPU")."""
    text = f"Language: **{result.language_name or result.language}** · device: {result.device}"
    return text + "".join(f"\n\n⚠️ {note}" for note in result.notes)


def score_table(scores: Mapping[str, float]) -> list[list[Any]]:
    """Rows ``[score, value]`` with fractions shown x100; [] when nothing was scored."""
    return [
        [SCORE_LABELS[key], round(scores[key] * 100, 1)] for key in SCORE_LABELS if key in scores
    ]


# --------------------------------------------------------------------------- Compare


def compare_table(rows: Sequence[CompareRow]) -> pd.DataFrame:
    """The Compare view's table: timings, memory and (when scored) quality per configuration."""
    recs = records(rows)
    scored = {k for r in recs for k in (*ASR_KEYS, *SUMMARY_KEYS) if r.get(k) is not None}
    columns = [k for k in COMPARE_COLUMNS if k not in (*ASR_KEYS, *SUMMARY_KEYS) or k in scored]
    if all(r["status"] == "ok" for r in recs):
        columns.remove("status")
    table = []
    for rec in recs:
        line = {}
        for key in columns:
            value = rec.get(key)
            if key in scored and value is not None:
                value = round(value * 100, 1)
            elif isinstance(value, float):
                value = round(value, 2 if key.endswith("_s") else 1)
            line[COMPARE_COLUMNS[key]] = value
        table.append(line)
    return pd.DataFrame(table, columns=[COMPARE_COLUMNS[k] for k in columns])


def compare_figures(rows: Sequence[CompareRow], template: str) -> dict[str, go.Figure]:
    """Grouped bars: time per stage, memory, and transcript / summary scores when scored."""
    recs = [r for r in records(rows) if r["status"] == "ok"]
    return {
        "compare_latency": charts.compare_bars(recs, "latency", template=template),
        "compare_memory": charts.compare_bars(recs, "memory", template=template),
        "compare_transcript_errors": charts.compare_bars(recs, "errors", template=template),
        "compare_summary_scores": charts.compare_bars(recs, "summary", template=template),
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


# --------------------------------------------------------------------------- runs and bench


@dataclass
class RunSet:
    """What is on disk under the checkpoints folder right now."""

    root: Path
    runs: list[Run] = field(default_factory=list)
    bench_rows: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # "<where>: <sentence>"


def load_run_set(root: str | Path | None = None) -> RunSet:
    """Read every run and benchmark file under ``root`` (default ``checkpoints_root()``).

    Never raises for what is inside: damaged runs and benchmark files become warnings.
    """
    base = Path(root) if root is not None else checkpoints_root()
    runs = list_runs(base)
    warnings = [f"{run.run_id}: {w}" for run in runs for w in run.warnings]
    bench_rows, bench_warnings = load_bench(base)
    return RunSet(base, runs, bench_rows, warnings + bench_warnings)


def load_bench(root: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Benchmark rows from ``root/bench/*.json`` and a warning per unreadable file.

    A file holds a list of rows, an object with a "rows" list, or one row; a row is an object
    with at least "config". A missing folder gives no rows and no warnings.
    """
    folder = Path(root) / BENCH_DIR
    if not folder.is_dir():
        return [], []
    base = folder.resolve()
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for path in sorted(folder.glob("*.json"))[:MAX_BENCH_FILES]:
        where = f"{BENCH_DIR}/{path.name}"
        try:
            resolved = path.resolve()
            if not resolved.is_relative_to(base) or not resolved.is_file():
                warnings.append(f"{where}: not a file inside {BENCH_DIR}/; ignored.")
                continue
            if resolved.stat().st_size > MAX_BENCH_BYTES:
                warnings.append(f"{where}: larger than {MAX_BENCH_BYTES // 2**20} MB; ignored.")
                continue
            data = json.loads(resolved.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError) as exc:
            warnings.append(f"{where}: can't be read as JSON ({exc}); ignored.")
            continue
        found = data.get("rows", [data]) if isinstance(data, dict) else data
        if not isinstance(found, list):
            warnings.append(f"{where}: holds no list of rows; ignored.")
            continue
        good = [r for r in found if isinstance(r, dict) and r.get("config") is not None]
        if len(good) < len(found):
            warnings.append(f"{where}: {len(found) - len(good)} rows without a config skipped.")
        rows.extend(good)
    return rows, warnings


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
    modes = _in_order({r.mode for r in asr if r.mode}, charts.MODE_ORDER)
    sizes = _in_order({r.size for r in asr if r.size}, charts.SIZE_ORDER)
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
    """``{"size", "precision", "weights_mb"}`` rows for ``charts.memory_per_precision``.

    From each Whisper run's ``weights_footprint_mb`` and any benchmark row that names a size
    and a precision.
    """
    rows = []
    for run in runs:
        value = run.info.get("weights_footprint_mb")
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
        "rouge_vs_rank": charts.rouge_vs_rank(runs, metric=metric, **kw),
        "memory_per_precision": charts.memory_per_precision(memory_rows(runs, bench_rows), **kw),
        "minutes_per_epoch": charts.minutes_per_epoch(runs, **kw),
        **bench_figures(bench_rows, template=template),
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
    """Benchmark latency, memory and WER per configuration ("No runs yet" when none)."""
    rows = list(bench_rows)
    return {
        "bench_latency": charts.bench_latency(rows, template=template),
        "bench_memory": charts.bench_memory(rows, template=template),
        "bench_wer": charts.compare_bars(rows, "wer", template=template),
    }


def reported_figures(
    runs: Sequence[Run],
    bench_rows: Sequence[Mapping[str, Any]] = (),
    *,
    template: str = "plotly_white",
    metric: str = "rouge1",
) -> dict[str, go.Figure]:
    """Measured beside the thesis' reported numbers (hatched/hollow, "(reported)" in legends)."""
    return {
        "wer_measured_vs_reported": charts.reported_vs_measured_wer(runs, template=template),
        "rouge_measured_vs_reported": charts.reported_vs_measured_rouge(
            runs, metric=metric, template=template
        ),
        "memory_measured_vs_reported": charts.memory_per_precision(
            memory_rows(runs, bench_rows), show_reported=True, template=template
        ),
        "minutes_measured_vs_reported": charts.minutes_per_epoch(
            runs, show_reported=True, template=template
        ),
    }


def reference_tables() -> dict[str, pd.DataFrame]:
    """The thesis tables shown as reported numbers, keyed by a title naming the table."""
    return {title: load_reference(name) for name, title in REFERENCE_TITLES.items()}


def export_figures(
    figures: Mapping[str, go.Figure], folder: str | Path, *, images: bool = True
) -> tuple[list[Path], str]:
    """Save figures for slides: HTML always (works offline), PNG and SVG when kaleido can.

    Returns the files written and a note for the user ("" when everything was saved).
    """
    paths = charts.save_figures(figures, folder, (".html",))
    if not images:
        return paths, ""
    try:
        paths += charts.save_figures(figures, folder, IMAGE_SUFFIXES)
    except DemoError as exc:
        return paths, f"Saved interactive HTML only: {exc}"
    return paths, ""


def _in_order(values: set[str], order: Sequence[str]) -> list[str]:
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), v))


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}.") from None


def _escape(text: str | None) -> str:
    return html.escape(text or "")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"

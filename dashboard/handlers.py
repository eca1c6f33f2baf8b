"""What the app's handlers do, without gradio: widget values by name in, outputs by name out.

``app.py`` wires these to its widgets: it passes a dict keyed by ``PipelineOptions`` field
(and a few more names: audio, references, theme, filters), and puts each returned value into
the widget of that name. An ``Update`` asks for a widget's choices or visibility to change.
Errors are ``DemoError`` sentences, which the app shows as they are.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dashboard import compare_view, reported_view, training_view, try_it
from dashboard.diff import word_diff
from dashboard.report import write_report
from demo.adapters import list_adapters
from demo.asr import language_names
from demo.asr.registry import DEFAULT_ASR
from demo.compare import MAX_CONFIGS, compare
from demo.errors import DemoError
from demo.models import check_available
from demo.pipeline import CASCADE, PIPELINES, PipelineOptions, References, preload, run_pipeline
from demo.quant import AUTO, available_quant_modes
from demo.settings import ROOT, settings
from demo.summarize.registry import DEFAULT_SUMMARIZER
from demo.validate import (
    NEWEST_E2E,
    NO_ADAPTER,
    NO_COMPRESSION,
    ConfigError,
    validate_config,
    validate_configs,
)
from results.charts.export import export_figures
from results.charts.style import chart_template
from results.charts.training import final_metrics_table

SAMPLES = ROOT / "assets" / "samples"
SWEEP_QUANTS = ("auto", "full", "dynamic-int8", "int8", "nf4")
CONFIG_KEYS = ("asr", "quant", "compression", "asr_adapter", "summarizer", "summarizer_adapter",
               "pipeline", "e2e_model")  # fmt: skip
CONFIG_HEADERS = ["#", "Whisper", "quantization", "compression", "Whisper adapter", "summarizer",
                  "adapter", "pipeline", "end-to-end model"]  # fmt: skip
# The Try it tab's widgets that are not part of the configuration.
TRY_KEYS = ("audio", "reference_transcript", "reference_summary", "reference_facts")
# A configuration's value where the caller gave none (an API client's end-to-end one need not
# name a Whisper); the adapters and compression: "none".
CONFIG_DEFAULTS = {"asr": DEFAULT_ASR, "quant": AUTO, "summarizer": DEFAULT_SUMMARIZER,
                   "pipeline": CASCADE, "e2e_model": NEWEST_E2E}  # fmt: skip
TEMP_PREFIXES = ("compare-", "charts-", "report-", "transcript-")
TEMP_MAX_AGE_S = 3600  # result folders older than this are removed when new ones are made


@dataclass
class Update:
    """A change to a widget beyond its value: new choices, shown or hidden."""

    value: Any = None
    choices: list | None = None
    visible: bool | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    def as_kwargs(self) -> dict[str, Any]:
        out = {"value": self.value, **self.fields}
        if self.choices is not None:
            out["choices"] = self.choices
        if self.visible is not None:
            out["visible"] = self.visible
        return out


def sample_clips() -> list[str]:
    """Audio files shipped in assets/samples, for the examples list."""
    return sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in {".flac", ".mp3", ".wav"})


def adapter_choices(base: str | None) -> list[str]:
    """Dropdown labels of the adapters trained on ``base`` (None: on any base; a summarizer
    strategy's model: ``smollm2-135m+checked`` takes SmolLM2's), plus "none"."""
    from demo.summarize.registry import split_summarizer

    model = split_summarizer(base)[0] if base is not None else None
    return [NO_ADAPTER] + [a.label for a in list_adapters(settings().checkpoints, base=model)]


def summarizer_choices() -> list[tuple[str, str]]:
    """The summarizer dropdown: ``auto`` (naming what it runs), the models, the strategies."""
    from demo.summarize.registry import (
        AUTO_SUMMARIZER,
        AUTO_SUMMARIZER_NAME,
        available_summarizers,
        offline_status,
    )  # fmt: skip

    choices = model_choices(available_summarizers(), offline_status)
    return [
        (f"auto = {AUTO_SUMMARIZER} ({offline_status(name)})", name)
        if name == AUTO_SUMMARIZER_NAME
        else (label, name)
        for label, name in choices
    ]


def compression_choices(base: str | None) -> list[str]:
    """Dropdown labels of the compressed models made from ``base`` (None: from any): low-rank
    factors and Q-Former bridges (``demo.compress.choices``), plus "none"."""
    from demo.compress.choices import list_compressions

    return [NO_COMPRESSION] + [
        m.label for m in list_compressions(settings().checkpoints, base=base)
    ]


def pipeline_choices() -> list[tuple[str, str]]:
    """(label, name) of every way from audio to summary (``demo.pipeline.PIPELINES``)."""
    return [(p.label, name) for name, p in PIPELINES.items()]


def e2e_choices() -> list[str]:
    """Dropdown labels of the trained end-to-end models in checkpoints/, after "newest"."""
    from demo.bridge.e2e_io import list_e2e

    return [NEWEST_E2E] + [e.label for e in list_e2e(settings().checkpoints)]


def model_choices(names, status: Callable[[str], str]) -> list[tuple[str, str]]:
    return [(f"{name} ({status(name)})", name) for name in names]


def language_choices() -> list[tuple[str, str]]:
    names = language_names()
    return [("detect", AUTO)] + [(f"{code} · {names[code]}", code) for code in sorted(names)]


def summarizer_quant_choices() -> list[str]:
    """Every quantization mode some summarizer can run in (int4: the LM summarizers)."""
    seq2seq = available_quant_modes("seq2seq")
    return seq2seq + [m for m in available_quant_modes("llm") if m not in seq2seq]


def options_from(values: Mapping[str, Any], ignore: tuple[str, ...] = TRY_KEYS) -> PipelineOptions:
    """``PipelineOptions`` from widget values keyed by field name (missing ones: defaults),
    checked by ``demo.validate`` (one sentence naming the field); keys in ``ignore`` are the
    other widgets, any other unknown key is refused."""
    fields = validate_config(values, ignore=ignore)
    return PipelineOptions(**fields, max_seconds=settings().max_seconds)


def references_from(values: Mapping[str, Any]) -> References:
    return References(
        values.get("reference_transcript"), values.get("reference_summary"),
        values.get("reference_facts"),
    )  # fmt: skip


# --------------------------------------------------------------------------- handlers


def _require_audio(audio: str | None) -> str:
    if not audio:
        raise DemoError("Record or upload a clip first (or pick a sample below).")
    return audio


def _diff_update(reference: str | None, text: str):
    if not reference or not reference.strip():
        return Update(value=None, visible=False)
    return Update(value=word_diff(reference, text), visible=True)


def transcribe_and_summarize(values: Mapping[str, Any]) -> dict[str, Any]:
    """Try-it handler: widget values by name -> PipelineOptions -> run -> outputs by name."""
    audio = _require_audio(values.get("audio"))
    options, references = options_from(values), references_from(values)
    result = run_pipeline(audio, options, references=references)
    transcript = result.transcript
    if not transcript and options.pipeline != CASCADE:
        from demo.pipelines.e2e import NO_TRANSCRIPT

        transcript = f"({NO_TRANSCRIPT})"
    return {
        "transcript": transcript,
        "summary": result.summary,
        "grounded": try_it.grounded_html(result.grounding),
        "latency": try_it.latency_table(result),
        "memory": try_it.memory_table(result),
        "info": try_it.info_markdown(result),
        "scores": try_it.score_table(result.scores),
        "transcript_diff": _diff_update(
            references.transcript if result.transcript or options.pipeline == CASCADE else None,
            result.transcript,
        ),
        "summary_diff": _diff_update(references.summary, result.summary),
        "segments": try_it.segments_html(result.segments),
        "downloads": transcript_files(result),
    }


def transcript_files(result) -> list[str]:
    """The transcript as TXT, SRT, WebVTT and JSON files (``demo.export``) for download."""
    from demo.export import FORMATS, render

    if not result.segments and not result.transcript:
        return []
    folder = _result_dir("transcript-")
    paths = []
    for name, fmt in FORMATS.items():
        path = folder / f"transcript.{fmt.extension}"
        path.write_text(render(result, name), encoding="utf-8")
        paths.append(str(path))
    return paths


def add_config(configs: list[dict], values: Mapping[str, Any]) -> list[dict]:
    """Append one configuration, checked now so a bad one never reaches Run."""
    configs = validate_configs(configs, MAX_CONFIGS)
    if len(configs) >= MAX_CONFIGS:
        raise DemoError(f"At most {MAX_CONFIGS} configurations; clear some first.")
    config = {key: values.get(key, CONFIG_DEFAULTS.get(key, "none")) for key in CONFIG_KEYS}
    options = options_from(config, ignore=())
    for spec in options.specs():
        spec.resolved()  # an unknown name, or a mode the device or the model kind lacks
        check_available(spec)  # a hub model that is not downloaded while offline
    return [*configs, config]


def add_sweep(configs: list[dict], values: Mapping[str, Any]) -> list[dict]:
    """Append the chosen Whisper in each CPU quantization mode, up to the limit."""
    configs = validate_configs(configs, MAX_CONFIGS)
    for quant in SWEEP_QUANTS:
        if len(configs) >= MAX_CONFIGS:
            break
        configs = add_config(configs, {**values, "quant": quant})
    return configs


def config_rows(configs: list[dict]) -> list[list]:
    return [
        [i + 1, *(c.get(k, CONFIG_DEFAULTS.get(k, "none")) for k in CONFIG_KEYS)]
        for i, c in enumerate(configs or [])
    ]


def edit_configs(edit: Callable, values: Mapping[str, Any]) -> dict[str, Any]:
    """``add_config`` or ``add_sweep`` on the configurations held in ``values["configs"]``."""
    configs = edit(values.get("configs"), values)
    return {"configs": configs, "table": config_rows(configs)}


def _result_dir(prefix: str) -> Path:
    """A fresh temporary folder for result files; older ones of the app are removed."""
    now = time.time()
    for old in Path(tempfile.gettempdir()).glob("stt-demo-*"):
        if old.name.startswith(tuple(f"stt-demo-{p}" for p in TEMP_PREFIXES)):
            if now - old.stat().st_mtime > TEMP_MAX_AGE_S:
                shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"stt-demo-{prefix}"))


def run_compare(values: Mapping[str, Any]) -> dict[str, Any]:
    """Compare handler: every configuration on the clip, then table, charts, texts, CSV."""
    audio = _require_audio(values.get("audio"))
    configs = validate_configs(values.get("configs"), MAX_CONFIGS)
    if not configs:
        raise DemoError("Add at least one configuration (or a quantization sweep) first.")
    sentences = values.get("summary_sentences", 3)
    options = []
    for number, config in enumerate(configs, start=1):
        try:
            options.append(options_from({**config, "summary_sentences": sentences}, ignore=()))
        except (DemoError, ValueError) as exc:
            raise ConfigError(f"Configuration {number}: {exc}") from None
    references = references_from(values)
    rows = compare(audio, options, references)
    csv_path = compare_view.write_csv(rows, _result_dir("compare-") / "compare.csv")
    failed = sum(not r.ok for r in rows)
    status = f"Ran {len(rows)} configurations" + (
        f", {failed} failed (see below)." if failed else "."
    )
    figures = compare_view.compare_figures(rows, chart_template(values.get("theme", "light")))
    cards = compare_view.compare_cards_html(rows, references.transcript, references.summary)
    return {
        "status": status,
        "table": compare_view.compare_table(rows),
        **figures,
        "cards": cards,
        "csv": str(csv_path),
        "rows": rows,
    }


def redraw_compare(values: Mapping[str, Any]) -> dict[str, Any]:
    """The comparison's charts again, in the theme now chosen."""
    theme = chart_template(values.get("theme", "light"))
    return compare_view.compare_figures(values.get("rows") or [], theme)


def save_compare_charts(values: Mapping[str, Any]) -> dict[str, Any]:
    if not values.get("rows"):
        raise DemoError("Run a comparison first.")
    return save_charts(redraw_compare(values))


def save_charts(figures) -> dict[str, Any]:
    paths, note = export_figures(figures, _result_dir("charts-"))
    files = Update(value=[str(p) for p in paths], visible=True)
    return {"files": files, "note": note or f"Saved {len(figures)} charts as HTML, PNG and SVG."}


def defense_report(values: Mapping[str, Any]) -> dict[str, Any]:
    """The defense report (``dashboard.report``): every chart and table in one offline file."""
    path = write_report(_result_dir("report-") / "defense.html", training_view.load_run_set())
    size = path.stat().st_size / 1e6
    note = f"Wrote {path.name} ({size:.1f} MB): it opens in any browser, offline."
    return {"files": Update(value=[str(path)], visible=True), "note": note}


def training_figures(values: Mapping[str, Any]):
    run_set = training_view.load_run_set()
    view = training_view.training_view(
        run_set, {k: values.get(k) for k in training_view.RUN_FILTERS},
        mode=values.get("mode"), size=values.get("size"),
        metric=values.get("metric", "rouge1"), show_reported=bool(values.get("reported")),
        template=chart_template(values.get("theme", "light")),
    )  # fmt: skip
    return run_set, view


def refresh_runs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Re-read checkpoints/ and rebuild the Training runs view (filters keep valid values)."""
    run_set, view = training_figures(values)
    out = {k: Update(choices=view.choices[k], value=view.selected[k])
           for k in training_view.RUN_FILTERS}  # fmt: skip
    return {
        **out,
        "summary": training_view.runs_summary_markdown(run_set, len(view.runs)),
        "mode": Update(choices=view.modes, value=view.mode),
        "size": Update(choices=view.sizes, value=view.size),
        **view.figures,
        "final": final_metrics_table(view.runs),
    }


def reported_figures(values: Mapping[str, Any]):
    run_set = training_view.load_run_set()
    figures = reported_view.reported_figures(
        run_set.runs, run_set.bench_rows, template=chart_template(values.get("theme", "light")),
        metric=values.get("metric", "rouge1"),
    )  # fmt: skip
    return run_set, figures


def refresh_reported(values: Mapping[str, Any]) -> dict[str, Any]:
    run_set, figures = reported_figures(values)
    return {
        **figures,
        "findings": reported_view.findings_text(run_set.runs),
        "final": final_metrics_table(run_set.runs),
    }


def save_training_charts(values: Mapping[str, Any]) -> dict[str, Any]:
    return save_charts(training_figures(values)[1].figures)


def save_reported_charts(values: Mapping[str, Any]) -> dict[str, Any]:
    return save_charts(reported_figures(values)[1])


def preload_defaults() -> str:
    """Load the app's default models as it starts (``demo.pipeline.preload``, in a background
    thread: ``DEMO_PRELOAD``); what happened, in one line, also on stderr. A failure (say, the
    offline weights are missing) costs nothing: the first click loads or explains as usual."""
    started = time.perf_counter()
    try:
        specs = preload(
            PipelineOptions(**{k: CONFIG_DEFAULTS[k] for k in ("asr", "quant", "summarizer")})
        )
        line = f"preloaded {', '.join(spec.name for spec in specs)} in "
        line += f"{time.perf_counter() - started:.1f} s"
    except Exception as exc:  # a background thread: reported, never raised into the app
        line = f"preload skipped ({type(exc).__name__}: {exc}); models load on first use"
    print(line, file=sys.stderr)
    return line

"""Gradio app over the ``demo`` core: try a clip, compare configurations, show training runs.

    python app.py [--port 7861] [--host 0.0.0.0 | --share]   # beyond localhost: opt-in only

Settings: the ``DEMO_*`` environment variables (``demo.settings``). This file lays out widgets
and wires them to ``dashboard.handlers`` (values by name in, outputs by name out); the live
microphone's widgets are in app_live.py. ``user_errors`` shows a ``DemoError`` as one sentence.
"""

from __future__ import annotations

import argparse
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any

import anyio
import gradio as gr

import app_live
from dashboard import compare_view, reported_view, training_view, try_it
from dashboard import handlers as h
from dashboard.diff import DIFF_COLORS
from demo.asr.registry import DEFAULT_ASR, WHISPER_MODELS
from demo.asr.registry import offline_status as asr_status
from demo.cancel import cancellable
from demo.compare import MAX_CONFIGS
from demo.errors import DemoError
from demo.measure import release_freed_memory
from demo.metrics import METRICS, SUMMARY_METRICS
from demo.pipeline import CASCADE
from demo.quant import AUTO, available_quant_modes
from demo.settings import Settings, settings
from demo.summarize.registry import DEFAULT_SUMMARIZER, SUMMARY_STYLES
from demo.validate import BOUNDS

PIPELINE_QUEUE = "pipeline"  # Try it and Compare share one concurrency limit
CSS = """
.gradio-container {font-size: 18px;}
.gradio-container textarea, .gradio-container input {font-size: 18px !important;}
#header h1 {margin: 0; font-size: 2rem;}
.compare-card {border: 1px solid var(--border-color-primary); border-radius: 8px;
               padding: 0 12px; margin-bottom: 10px; font-size: 18px; line-height: 1.6;}
.compare-card h3 {margin: 8px 0 4px;}
.grounded mark.unsupported {background: #ffd6d6; color: #8b0000; border-bottom: 2px solid #c00;}
.grounded .src-link {margin-left: 2px; padding: 0 3px; border-radius: 4px; font-size: 0.75em;
                     text-decoration: none; background: var(--background-fill-secondary);}
.grounded .summary-sentence:hover {background: var(--color-accent-soft);}
.grounded .src:target {background: #fff3b0; color: #000;}
.grounded-legend {font-size: 0.8em; opacity: 0.8;}
.grounded-transcript {max-height: 12em; overflow-y: auto; font-size: 0.9em; padding: 4px 8px;
                      border: 1px solid var(--border-color-primary); border-radius: 6px;}
"""
# Gradio adds the "dark" class to <body> for its dark theme; the radio toggles it.
THEME_JS = "(theme) => { document.body.classList.toggle('dark', theme === 'dark'); return theme; }"
LIGHT_ON_LOAD_JS = "() => { document.body.classList.remove('dark'); }"


def user_errors(handler: Callable) -> Callable:
    """Show a ``DemoError`` (or a bad value) as one sentence in the browser, not a traceback."""

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        try:
            return handler(*args, **kwargs)
        except (DemoError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    return wrapped


def wire(event, handler: Callable, inputs: dict[str, Any], outputs: dict[str, Any], **kwargs):
    """Connect ``handler(values by name) -> outputs by name`` to a gradio event.

    The widgets go to gradio in the order of ``inputs``, which is also the order of the
    event's API parameters (gradio_client). The handler runs in a worker thread; when the
    event is cancelled (Stop) the worker slot is freed at once and the work itself stops at its
    next checkpoint (``demo.cancel``).
    """
    names = list(inputs)

    def work(stop: threading.Event, values: tuple) -> dict:
        with cancellable(stop):
            try:
                result = handler(dict(zip(names, values, strict=True)))
            finally:
                release_freed_memory(collect=False)  # a request's buffers go back to the system
        return {
            outputs[name]: gr.update(**value.as_kwargs()) if isinstance(value, h.Update) else value
            for name, value in result.items()
            if name in outputs
        }

    async def run(progress=gr.Progress(track_tqdm=True), *values):  # noqa: B008 (gradio's idiom)
        stop = threading.Event()
        context = contextvars.copy_context()  # gradio's progress tracker lives in it
        try:
            return await anyio.to_thread.run_sync(
                context.run, work, stop, values, abandon_on_cancel=True
            )
        except anyio.get_cancelled_exc_class():
            stop.set()
            raise
        except (DemoError, ValueError) as exc:
            raise gr.Error(str(exc)) from None

    return event(run, inputs=list(inputs.values()), outputs=list(outputs.values()), **kwargs)


def _dropdown(choices, value, label: str, **kwargs) -> gr.Dropdown:
    return gr.Dropdown(choices, value=value, label=label, **kwargs)


def _later(choices, value, label: str) -> gr.Dropdown:
    return _dropdown(choices, value, label, render=False)


def _text(label: str, lines: int, s: Settings) -> gr.Textbox:
    return gr.Textbox(label=label, lines=lines, max_length=s.max_text_chars)


def _audio(label: str, elem_id: str) -> gr.Audio:
    audio = gr.Audio(
        sources=["upload", "microphone"], type="filepath", label=label, elem_id=elem_id
    )
    gr.Examples(h.sample_clips(), inputs=audio, label="Sample clips")
    return audio


def _pipeline_inputs(rows: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """Whisper / quantization / adapter / summarizer / adapter dropdowns laid out in ``rows``,
    each adapter list following its base model. An API client sends values without a browser's
    events, so the lists start with every base's choices (``demo.validate`` refuses one made
    for another base) and narrow to the base's own on page load."""
    widgets = {
        "asr": _later(h.model_choices(WHISPER_MODELS, asr_status), DEFAULT_ASR, "Whisper"),
        "quant": _later(available_quant_modes("asr"), AUTO, "Quantization"),
        "compression": _later(
            h.compression_choices(None), h.NO_COMPRESSION, "Compression (low-rank, Q-Former bridge)"
        ),
        "asr_adapter": _later(h.adapter_choices(None), h.NO_ADAPTER, "Whisper adapter"),
        "summarizer": _later(h.summarizer_choices(), DEFAULT_SUMMARIZER, "Summarizer"),
        "summarizer_adapter": _later(h.adapter_choices(None), h.NO_ADAPTER, "Summarizer adapter"),
        "pipeline": _later(h.pipeline_choices(), CASCADE, "Pipeline"),
        "e2e_model": _later(h.e2e_choices(), h.NEWEST_E2E, "End-to-end model (e2e pipeline)"),
    }
    for row in rows:
        with gr.Row():
            for name in row:
                widgets[name].render()
    follows = (
        ("asr", "asr_adapter", h.adapter_choices, h.NO_ADAPTER),
        ("asr", "compression", h.compression_choices, h.NO_COMPRESSION),
        ("summarizer", "summarizer_adapter", h.adapter_choices, h.NO_ADAPTER),
    )
    for base, widget, choices, none in follows:
        gr.on(  # no triggers: on page load and on each change of the base
            None,
            lambda b, choices=choices, none=none: gr.Dropdown(choices=choices(b), value=none),
            inputs=widgets[base],
            outputs=widgets[widget],
            queue=False,
        )
    return widgets


def _sentences() -> gr.Slider:
    low, high = BOUNDS["summary_sentences"]
    return gr.Slider(low, high, value=3, step=1, label="Summary sentences")


def _save_row(label: str) -> dict[str, Any]:
    with gr.Row():
        button = gr.Button(label, size="sm", scale=0, min_width=260)
        note = gr.Markdown()
    files = gr.File(label="Charts (HTML works offline)", file_count="multiple", visible=False)
    return {"button": button, "files": files, "note": note}


def _plots(*names: str) -> dict[str, gr.Plot]:
    return {name: gr.Plot(show_label=False, elem_id=name.replace("_", "-")) for name in names}


def _run_buttons(label: str, elem_id: str) -> tuple[gr.Button, gr.Button]:
    with gr.Row():
        run = gr.Button(label, variant="primary", elem_id=elem_id, scale=3)
        stop = gr.Button("Stop", size="sm", scale=1)
    return run, stop


def _try_tab(s: Settings) -> dict[str, Any]:
    with gr.Row():
        with gr.Column(scale=2):
            limits = f"up to {s.max_seconds:.0f} s, {s.max_upload_mb:.0f} MB"
            w: dict[str, Any] = {"audio": _audio(f"Clip ({limits})", "try-audio")}
            run, stop = _run_buttons("Transcribe and summarize", "run")
            live_mic = app_live.live_widgets()
            w |= _pipeline_inputs(
                (("pipeline", "e2e_model"), ("asr", "quant"), ("compression", "asr_adapter"),
                 ("summarizer", "summarizer_adapter"))
            )  # fmt: skip
            # Added after the others in `w` (API parameters keep their positions).
            with gr.Row():
                w["summary_sentences"] = _sentences()
                style = gr.Radio(
                    list(SUMMARY_STYLES), value=SUMMARY_STYLES[0], label="Summary style"
                )
            with gr.Accordion("References (optional): score the output", open=False):
                w["reference_transcript"] = _text("Reference transcript", 3, s)
                w["reference_summary"] = _text("Reference summary", 2, s)
                facts = _text("Key facts the summary must keep, one a line (fact: key; key)", 3, s)
            with gr.Accordion("More options", open=False), gr.Row():
                modes = h.summarizer_quant_choices()
                w["summarizer_quant"] = _dropdown(modes, AUTO, "Summarizer quantization")
                w["device"] = _dropdown([AUTO, "cpu", "cuda"], AUTO, "Device")
                w["language"] = _dropdown(h.language_choices(), AUTO, "Spoken language")
                w["num_beams"] = gr.Slider(
                    *BOUNDS["num_beams"], value=1, step=1, label="Beam width"
                )
                low, high = BOUNDS["summary_words"]
                w["summary_words"] = gr.Number(
                    0, precision=0, minimum=low, maximum=high, label="Summary word budget (0: none)"
                )
                w["e2e_transcript"] = gr.Checkbox(
                    False, label="End-to-end: also ask the model for its own transcript"
                )
                words = gr.Checkbox(
                    False, label="Word times (exact subtitle times, 10-20% slower transcription)"
                )
            w["summary_style"], w["reference_facts"] = style, facts
            w["word_timestamps"] = words  # last: API parameters keep their positions
        with gr.Column(scale=3):
            o: dict[str, Any] = {
                "transcript": gr.Textbox(label="Transcript", lines=5, elem_id="transcript"),
                # the segments with times (a click plays the clip from there) and the files
                "segments": gr.HTML(elem_id="transcript-times"),
                "downloads": gr.File(
                    label="Transcript: TXT, SRT, WebVTT, JSON",
                    file_count="multiple",
                    elem_id="transcript-files",
                ),
                "transcript_diff": gr.HighlightedText(
                    label="Transcript vs reference", color_map=DIFF_COLORS, visible=False
                ),
                "summary": gr.Textbox(label="Summary", lines=3, elem_id="summary"),
                "grounded": gr.HTML(elem_id="grounded-summary"),
                "summary_diff": gr.HighlightedText(
                    label="Summary vs reference", color_map=DIFF_COLORS, visible=False
                ),
                "info": gr.Markdown(),
            }
            with gr.Row():
                o["latency"] = gr.Dataframe(
                    headers=try_it.LATENCY_HEADERS, label="Latency (s)", interactive=False
                )
                o["memory"] = gr.Dataframe(
                    headers=try_it.MEMORY_HEADERS, label="Memory", interactive=False
                )
            o["scores"] = gr.Dataframe(
                headers=try_it.SCORE_HEADERS, label="Scores vs references", interactive=False
            )
    event = wire(
        run.click, h.transcribe_and_summarize, w, o, api_name="transcribe",
        concurrency_id=PIPELINE_QUEUE, concurrency_limit=s.concurrency,
    )  # fmt: skip
    stop.click(None, cancels=[event])
    app_live.wire_live(live_mic, w, o, s, wire, PIPELINE_QUEUE)
    return w


def _compare_tab(s: Settings, theme: gr.Radio) -> None:
    # The configurations are a (hidden) JSON value, not session state, so that API clients
    # can send them too: /compare takes audio, configs, references, sentences, theme.
    configs, rows = gr.JSON([], visible=False), gr.State([])
    w: dict[str, Any] = {}
    with gr.Row():
        with gr.Column(scale=2):
            w["audio"] = _audio("Clip", "compare-audio")
            w["configs"] = configs
            run, stop = _run_buttons("Run comparison", "compare-run")
            w["reference_transcript"] = _text("Reference transcript (optional)", 2, s)
            w["reference_summary"] = _text("Reference summary (optional)", 2, s)
            facts = _text("Key facts (optional, one a line: fact: key; key)", 2, s)
            w["summary_sentences"] = _sentences()
            w["theme"] = theme
            w["reference_facts"] = facts  # last: the API's earlier parameters keep their places
        with gr.Column(scale=3):
            gr.Markdown(
                f"Add up to {MAX_CONFIGS} configurations; they run one after another on the same "
                f"clip (at most {s.max_compare_seconds:.0f} s of audio x configurations)."
            )
            pick = _pipeline_inputs(
                (("pipeline", "e2e_model"), ("asr", "quant", "compression"),
                 ("asr_adapter", "summarizer", "summarizer_adapter"))
            )  # fmt: skip
            with gr.Row():
                add = gr.Button("Add configuration", size="sm")
                sweep = gr.Button("Add quantization sweep", size="sm")
                clear = gr.Button("Clear", size="sm")
            table = gr.Dataframe(headers=h.CONFIG_HEADERS, label="Configurations")
            status = gr.Markdown()
    o: dict[str, Any] = {
        "status": status,
        "rows": rows,
        "table": gr.Dataframe(label=compare_view.COMPARE_TABLE_LABEL, wrap=True),
        **_plots(*compare_view.COMPARE_FIGURES),
        "cards": gr.HTML(),
        "csv": gr.File(label="Results as CSV"),
    }
    save = _save_row("Save comparison charts")
    for button, handler in ((add, h.add_config), (sweep, h.add_sweep)):
        wire(
            button.click, functools.partial(h.edit_configs, handler), {"configs": configs, **pick},
            {"configs": configs, "table": table}, queue=False,
        )  # fmt: skip
    clear.click(lambda: ([], []), outputs=[configs, table], queue=False)
    event = wire(
        run.click, h.run_compare, w, o, api_name="compare", concurrency_id=PIPELINE_QUEUE,
        concurrency_limit=s.concurrency,
    )  # fmt: skip
    stop.click(None, cancels=[event])
    view = {"rows": rows, "theme": theme}
    wire(theme.change, h.redraw_compare, view, o)
    wire(save["button"].click, h.save_compare_charts, view, save)


def _runs_tab(theme: gr.Radio, tab: gr.Tab) -> None:
    w: dict[str, Any] = {"theme": theme}
    with gr.Row(equal_height=True):
        for name in training_view.RUN_FILTERS:
            w[name] = _dropdown([training_view.ALL], training_view.ALL, name.capitalize())
        with gr.Column(scale=0, min_width=190):
            reload = gr.Button("Reload runs", elem_id="reload-runs", size="sm")
            w["reported"] = gr.Checkbox(False, label="Thesis numbers", container=False)
    o: dict[str, Any] = {"summary": gr.Markdown(elem_id="runs-summary")}
    with gr.Tab("WER per epoch"):
        with gr.Row():
            w["mode"] = _dropdown([], None, "Mode (top chart: a line per size)")
            w["size"] = _dropdown([], None, "Size (bottom chart: a line per mode)")
        o |= _plots("wer_per_epoch_by_size", "wer_per_epoch_by_mode")
    with gr.Tab("Real speech"):
        o |= _plots("real_speech_wer")
    with gr.Tab("ROUGE vs rank"):
        w["metric"] = _metric_dropdown()
        o |= _plots("rouge_vs_rank")
    with gr.Tab("Final metrics"):
        o["final"] = gr.Dataframe(label="Final metrics (measured)", interactive=False)
    with gr.Tab("Memory and time"):
        o |= _plots("memory_per_precision", "minutes_per_epoch")
    with gr.Tab("Benchmarks"):
        o |= _plots(
            "bench_latency", "bench_memory", "bench_wer", "bench_summarizer", "bench_faithfulness"
        )
    with gr.Tab("Research systems"):
        o |= _plots(*training_view.SYSTEM_FIGURES)
    save = _save_row("Save these charts")
    outputs = {**o, **{k: w[k] for k in (*training_view.RUN_FILTERS, "mode", "size")}}
    for trigger in (reload.click, tab.select, theme.change):
        wire(trigger, h.refresh_runs, w, outputs)
    for name in (*training_view.RUN_FILTERS, "mode", "size", "metric", "reported"):
        wire(w[name].input, h.refresh_runs, w, outputs)
    wire(save["button"].click, h.save_training_charts, w, save)
    report = _save_row("Defense report: every chart and table, one offline HTML file")
    wire(report["button"].click, h.defense_report, w, report)


def _metric_dropdown(**kwargs) -> gr.Dropdown:
    choices = [(METRICS[k].label, k) for k in SUMMARY_METRICS]
    return _dropdown(choices, "rouge1", "Summary metric", **kwargs)


def _reported_tab(theme: gr.Radio, tab: gr.Tab) -> None:
    w: dict[str, Any] = {"theme": theme}
    with gr.Row(equal_height=True):
        gr.Markdown(
            "Solid bars and lines are **measured** by our runs; hatched bars and hollow markers "
            "labelled **(reported)** are published numbers, never merged with ours. Each chart "
            "names the datasets on both sides."
        )
        w["metric"] = _metric_dropdown(scale=0, min_width=220)
        reload = gr.Button("Reload runs", size="sm", scale=0, min_width=160)
    o: dict[str, Any] = {"findings": gr.Markdown(elem_id="findings")}
    o |= _plots(*reported_view.REPORTED_FIGURES)
    save = _save_row("Save these charts")
    with gr.Accordion("Measured: final metrics of our runs", open=False):
        o["final"] = gr.Dataframe(interactive=False)
    with gr.Accordion("Reported: the papers' tables", open=False):
        for title, table in reported_view.reference_tables().items():
            gr.Dataframe(table, label=f"Reported — {title}", interactive=False)
    for trigger in (reload.click, tab.select, w["metric"].input, theme.change):
        wire(trigger, h.refresh_reported, w, o)
    wire(save["button"].click, h.save_reported_charts, w, save)


def build_demo() -> gr.Blocks:
    """Construct the app without launching it (theme and CSS are passed to launch())."""
    s = settings()
    # Uploads and result files older than an hour are deleted, checked every hour.
    with gr.Blocks(title="Speech → summary", fill_width=True, delete_cache=(3600, 3600)) as demo:
        with gr.Row(equal_height=True, elem_id="header"):
            gr.Markdown("# Speech → transcript → summary")
            theme = gr.Radio(
                ["light", "dark"], value="light", label="Theme", show_label=False,
                container=False, scale=0, min_width=220, elem_id="theme",
            )  # fmt: skip
            theme.change(None, inputs=theme, js=THEME_JS)  # first: the page turns at once
        with gr.Tab("Try it", id="try"):
            demo.try_inputs = _try_tab(s)  # by name, for tests of the app's defaults
        with gr.Tab("Compare", id="compare"):
            _compare_tab(s, theme)
        with gr.Tab("Training runs", id="runs") as runs_tab:
            _runs_tab(theme, runs_tab)
        with gr.Tab("Reported vs measured", id="reported") as reported_tab:
            _reported_tab(theme, reported_tab)
        demo.load(None, js=LIGHT_ON_LOAD_JS)
        demo.load(None, js=try_it.SEEK_JS)  # transcript times seek the clip's player
    return demo


def launch_kwargs(s: Settings) -> dict:
    """launch()'s theme, CSS, upload limit; only the sample clips are served from disk."""
    return {
        "theme": gr.themes.Soft(text_size=gr.themes.sizes.text_lg),
        "css": CSS,
        "max_file_size": int(s.max_upload_mb * 1024 * 1024),
        "allowed_paths": [str(h.SAMPLES)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default local)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="create a public gradio link")
    args = parser.parse_args(argv)
    try:
        s = settings()
    except ValueError as exc:  # a DEMO_* variable out of range: one line, no traceback
        parser.exit(2, f"error: {exc}\n")
    demo = build_demo()
    demo.queue(default_concurrency_limit=s.concurrency, max_size=s.queue_size)
    if s.preload:  # the first click then finds the default models in memory
        threading.Thread(target=h.preload_defaults, name="preload", daemon=True).start()
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_kwargs(s))


if __name__ == "__main__":
    main()

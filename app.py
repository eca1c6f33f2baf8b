"""Gradio app over the ``demo`` core: try a clip, compare configurations, show training runs.

    python app.py                      # http://127.0.0.1:7860, bundled offline models
    python app.py --port 7861 --host 0.0.0.0   # explicit opt-in to listen beyond localhost
    python app.py --share              # explicit opt-in to a public gradio link

The browser microphone only works on https or on localhost. Settings from the environment:
DEMO_CHECKPOINTS (runs/adapters folder, default checkpoints/), DEMO_QUEUE_SIZE (16),
DEMO_CONCURRENCY (1), DEMO_MAX_UPLOAD_MB (50), DEMO_MAX_SECONDS (600), DEMO_MAX_MODELS (3).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import gradio as gr

from demo import dashboard as dash
from demo.adapters import list_adapters, resolve_adapter
from demo.asr import language_names
from demo.charts import SUMMARY_METRICS, final_metrics_table
from demo.compare import MAX_CONFIGS, compare, reference_scores, word_diff, write_csv
from demo.errors import DemoError
from demo.pipeline import PipelineOptions, run_pipeline
from demo.quant import QUANT_MODES
from demo.registry import (
    DEFAULT_ASR,
    DEFAULT_SUMMARIZER,
    SUMMARIZERS,
    WHISPER_MODELS,
    offline_status,
)

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "assets" / "samples"
NO_ADAPTER = "none"
AUTO = "auto"
PIPELINE_QUEUE = "pipeline"  # Try it and Compare share one concurrency limit
SWEEP_QUANTS = ("full", "dynamic-int8", "int8", "nf4")
CONFIG_KEYS = ("asr", "quant", "asr_adapter", "summarizer", "summarizer_adapter")
CONFIG_HEADERS = ["#", "Whisper", "quantization", "Whisper adapter", "summarizer", "adapter"]
DIFF_COLORS = {"changed": "#E69F00", "extra": "#56B4E9", "missing": "#D55E00"}
CSS = """
.gradio-container {font-size: 18px;}
.gradio-container textarea, .gradio-container input {font-size: 18px !important;}
#header h1 {margin: 0; font-size: 2rem;}
.compare-card {border: 1px solid var(--border-color-primary); border-radius: 8px;
               padding: 0 12px; margin-bottom: 10px; font-size: 18px; line-height: 1.6;}
.compare-card h3 {margin: 8px 0 4px;}
"""
# Gradio adds the "dark" class to <body> for its dark theme; the radio toggles it.
THEME_JS = "(theme) => { document.body.classList.toggle('dark', theme === 'dark'); return theme; }"
LIGHT_ON_LOAD_JS = "() => { document.body.classList.remove('dark'); }"


# --------------------------------------------------------------------------- choices


def sample_clips() -> list[str]:
    """Audio files shipped in assets/samples, for the examples list."""
    return sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in {".flac", ".mp3", ".wav"})


def adapter_choices(base: str) -> list[str]:
    """Dropdown labels of the adapters trained on ``base``, plus "none"."""
    return [NO_ADAPTER] + [a.label for a in list_adapters(dash.checkpoints_root(), base=base)]


def _model_choices(names, kind: str) -> list[tuple[str, str]]:
    return [(f"{name} ({offline_status(name, kind)})", name) for name in names]


def _language_choices() -> list[tuple[str, str]]:
    names = language_names()
    return [("detect", AUTO)] + [(f"{code} · {names[code]}", code) for code in sorted(names)]


def _options(
    asr: str,
    quant: str,
    asr_adapter: str,
    summarizer: str,
    summarizer_quant: str = "full",
    summarizer_adapter: str = NO_ADAPTER,
    device: str = AUTO,
    language: str = AUTO,
    num_beams: float = 1,
    summary_sentences: float = 3,
    summary_words: float | None = None,
) -> PipelineOptions:
    root = dash.checkpoints_root()
    return PipelineOptions(
        asr=asr,
        quant=quant,
        asr_adapter=resolve_adapter(asr_adapter, root),
        summarizer=summarizer,
        summarizer_quant=summarizer_quant,
        summarizer_adapter=resolve_adapter(summarizer_adapter, root),
        device=device,
        language=None if language in (None, "", AUTO) else language,
        num_beams=int(num_beams),
        summary_sentences=int(summary_sentences),
        summary_words=int(summary_words) if summary_words else None,
        max_seconds=dash.AppSettings.from_env().max_seconds,
    )


# --------------------------------------------------------------------------- Try it


def transcribe_and_summarize(
    audio: str | None,
    asr: str,
    quant: str,
    asr_adapter: str,
    summarizer: str,
    summarizer_quant: str,
    summarizer_adapter: str,
    device: str,
    language: str,
    num_beams: float,
    summary_sentences: float,
    summary_words: float | None,
    reference_transcript: str = "",
    reference_summary: str = "",
    progress=gr.Progress(track_tqdm=True),  # noqa: B008 (gradio's documented idiom)
):
    """Try-it handler: widget values by name -> PipelineOptions -> run -> formatted outputs.

    Returns transcript, summary, latency rows, memory rows, info, score rows, and the
    transcript and summary diffs against the references (empty without references).
    """
    if not audio:
        raise gr.Error("Record or upload a clip first (or pick a sample below).")
    try:
        options = _options(
            asr,
            quant,
            asr_adapter,
            summarizer,
            summarizer_quant,
            summarizer_adapter,
            device,
            language,
            num_beams,
            summary_sentences,
            summary_words,
        )
        result = run_pipeline(audio, options)
        scores = reference_scores(
            result.transcript,
            result.summary,
            reference_transcript=reference_transcript,
            reference_summary=reference_summary,
            language=result.language,
        )
    except (DemoError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    return (
        result.transcript,
        result.summary,
        dash.latency_table(result),
        dash.memory_table(result),
        dash.info_markdown(result),
        dash.score_table(scores),
        _diff_update(reference_transcript, result.transcript),
        _diff_update(reference_summary, result.summary),
    )


def _diff_update(reference: str | None, text: str):
    if not reference or not reference.strip():
        return gr.update(value=None, visible=False)
    return gr.update(value=word_diff(reference, text), visible=True)


# --------------------------------------------------------------------------- Compare


def add_config(configs: list[dict], asr, quant, asr_adapter, summarizer, summarizer_adapter):
    """Append one configuration (validated now, so a bad one never reaches Run)."""
    configs = list(configs or [])
    if len(configs) >= MAX_CONFIGS:
        raise gr.Error(f"At most {MAX_CONFIGS} configurations; clear some first.")
    try:
        _options(asr, quant, asr_adapter, summarizer, summarizer_adapter=summarizer_adapter)
    except (DemoError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    configs.append(
        dict(
            zip(CONFIG_KEYS, (asr, quant, asr_adapter, summarizer, summarizer_adapter), strict=True)
        )
    )
    return configs, _config_rows(configs)


def add_sweep(configs: list[dict], asr, asr_adapter, summarizer, summarizer_adapter):
    """Append the chosen Whisper in every CPU quantization mode, up to the limit."""
    for quant in SWEEP_QUANTS:
        if len(configs or []) >= MAX_CONFIGS:
            break
        configs, _ = add_config(configs, asr, quant, asr_adapter, summarizer, summarizer_adapter)
    return configs, _config_rows(configs)


def clear_configs():
    return [], _config_rows([])


def _config_rows(configs: list[dict]) -> list[list]:
    return [[i + 1, *(c[k] for k in CONFIG_KEYS)] for i, c in enumerate(configs or [])]


def run_compare(
    audio: str | None,
    configs: list[dict],
    reference_transcript: str,
    reference_summary: str,
    summary_sentences: float,
    theme: str,
    progress=gr.Progress(track_tqdm=True),  # noqa: B008
):
    """Compare handler: every configuration on the clip, then table, charts, texts, CSV."""
    if not audio:
        raise gr.Error("Record or upload a clip first (or pick a sample below).")
    if not configs:
        raise gr.Error("Add at least one configuration (or a quantization sweep) first.")
    try:
        options = [
            _options(**c, summary_sentences=summary_sentences) for c in configs
        ]  # fmt: skip
        rows = compare(
            audio,
            options,
            reference_transcript=reference_transcript,
            reference_summary=reference_summary,
        )
    except (DemoError, ValueError) as exc:
        raise gr.Error(str(exc)) from None
    csv_path = write_csv(rows, Path(tempfile.mkdtemp(prefix="compare-")) / "compare.csv")
    failed = sum(not r.ok for r in rows)
    status = f"Ran {len(rows)} configurations" + (
        f", {failed} failed (see below)." if failed else "."
    )
    figures = dash.compare_figures(rows, dash.chart_template(theme))
    cards = dash.compare_cards_html(rows, reference_transcript, reference_summary)
    return status, dash.compare_table(rows), *figures.values(), cards, str(csv_path), rows


def redraw_compare(rows, theme: str):
    return tuple(dash.compare_figures(rows or [], dash.chart_template(theme)).values())


def save_compare_charts(rows, theme: str):
    if not rows:
        raise gr.Error("Run a comparison first.")
    return _save(dash.compare_figures(rows, dash.chart_template(theme)))


# --------------------------------------------------------------------------- Training runs


def _training_view(dataset, model, method, precision, mode, size, metric, reported, theme):
    run_set = dash.load_run_set()
    view = dash.training_view(
        run_set,
        dict(zip(dash.RUN_FILTERS, (dataset, model, method, precision), strict=True)),
        mode=mode,
        size=size,
        metric=metric,
        show_reported=bool(reported),
        template=dash.chart_template(theme),
    )
    return run_set, view


def refresh_runs(dataset, model, method, precision, mode, size, metric, reported, theme):
    """Re-read checkpoints/ and rebuild the Training runs view (filters keep valid values)."""
    run_set, view = _training_view(
        dataset, model, method, precision, mode, size, metric, reported, theme
    )
    return (
        dash.runs_summary_markdown(run_set, len(view.runs)),
        *(gr.update(choices=view.choices[k], value=view.selected[k]) for k in dash.RUN_FILTERS),
        gr.update(choices=view.modes, value=view.mode),
        gr.update(choices=view.sizes, value=view.size),
        *view.figures.values(),
        final_metrics_table(view.runs),
    )


def save_training_charts(dataset, model, method, precision, mode, size, metric, reported, theme):
    _, view = _training_view(dataset, model, method, precision, mode, size, metric, reported, theme)
    return _save(view.figures)


# --------------------------------------------------------------------------- Reported vs measured


def refresh_reported(metric: str, theme: str):
    run_set = dash.load_run_set()
    figures = dash.reported_figures(
        run_set.runs, run_set.bench_rows, template=dash.chart_template(theme), metric=metric
    )
    return (*figures.values(), final_metrics_table(run_set.runs))


def save_reported_charts(metric: str, theme: str):
    run_set = dash.load_run_set()
    return _save(
        dash.reported_figures(
            run_set.runs, run_set.bench_rows, template=dash.chart_template(theme), metric=metric
        )
    )


def _save(figures):
    paths, note = dash.export_figures(figures, tempfile.mkdtemp(prefix="charts-"))
    files = gr.update(value=[str(p) for p in paths], visible=True)
    return files, note or f"Saved {len(figures)} charts as HTML, PNG and SVG."


# --------------------------------------------------------------------------- layout


def _pipeline_inputs(rows: tuple[tuple[str, ...], ...]):
    """Whisper / quantization / adapter / summarizer / adapter dropdowns laid out in ``rows``,
    each adapter list following its base model."""
    widgets = {
        "asr": gr.Dropdown(
            _model_choices(WHISPER_MODELS, "whisper"),
            value=DEFAULT_ASR,
            label="Whisper",
            render=False,
        ),
        "quant": gr.Dropdown(list(QUANT_MODES), value="full", label="Quantization", render=False),
        "asr_adapter": gr.Dropdown(
            adapter_choices(DEFAULT_ASR), value=NO_ADAPTER, label="Whisper adapter", render=False
        ),
        "summarizer": gr.Dropdown(
            _model_choices(SUMMARIZERS, "summarizer"),
            value=DEFAULT_SUMMARIZER,
            label="Summarizer",
            render=False,
        ),
        "summarizer_adapter": gr.Dropdown(
            adapter_choices(DEFAULT_SUMMARIZER),
            value=NO_ADAPTER,
            label="Summarizer adapter",
            render=False,
        ),
    }
    for row in rows:
        with gr.Row():
            for name in row:
                widgets[name].render()
    pairs = (("asr", "asr_adapter"), ("summarizer", "summarizer_adapter"))
    for base, adapter in pairs:
        widgets[base].change(
            lambda b: gr.Dropdown(choices=adapter_choices(b), value=NO_ADAPTER),
            inputs=widgets[base],
            outputs=widgets[adapter],
            queue=False,
        )
    return tuple(widgets[name] for name in CONFIG_KEYS)


def _save_row(label: str):
    with gr.Row():
        button = gr.Button(label, size="sm", scale=0, min_width=260)
        note = gr.Markdown()
    files = gr.File(label="Charts (HTML works offline)", file_count="multiple", visible=False)
    return button, files, note


def _plot(elem_id: str | None = None):
    return gr.Plot(show_label=False, elem_id=elem_id)


def build_demo() -> gr.Blocks:
    """Construct the app without launching it (theme and CSS are passed to launch())."""
    settings = dash.AppSettings.from_env()
    with gr.Blocks(title="Speech → summary", fill_width=True) as demo:
        with gr.Row(equal_height=True, elem_id="header"):
            gr.Markdown("# Speech → transcript → summary")
            theme = gr.Radio(
                ["light", "dark"],
                value="light",
                label="Theme",
                show_label=False,
                container=False,
                scale=0,
                min_width=220,
                elem_id="theme",
            )

        with gr.Tab("Try it", id="try"):
            with gr.Row():
                with gr.Column(scale=2):
                    audio = gr.Audio(
                        sources=["upload", "microphone"],
                        type="filepath",
                        label=f"Clip (up to {settings.max_seconds:.0f} s, "
                        f"{settings.max_upload_mb:.0f} MB)",
                        elem_id="try-audio",
                    )
                    gr.Examples(sample_clips(), inputs=audio, label="Sample clips")
                    run = gr.Button("Transcribe and summarize", variant="primary", elem_id="run")
                    asr, quant, asr_adapter, summarizer, summarizer_adapter = _pipeline_inputs(
                        (("asr", "quant"), ("summarizer", "asr_adapter"), ("summarizer_adapter",))
                    )
                    sentences = gr.Slider(1, 10, value=3, step=1, label="Summary sentences")
                    with gr.Accordion("References (optional): score the output", open=False):
                        ref_transcript = gr.Textbox(label="Reference transcript", lines=3)
                        ref_summary = gr.Textbox(label="Reference summary", lines=2)
                    with gr.Accordion("More options", open=False):
                        with gr.Row():
                            summarizer_quant = gr.Dropdown(
                                list(QUANT_MODES), value="full", label="Summarizer quantization"
                            )
                            device = gr.Dropdown([AUTO, "cpu", "cuda"], value=AUTO, label="Device")
                        with gr.Row():
                            language = gr.Dropdown(
                                _language_choices(), value=AUTO, label="Spoken language"
                            )
                            num_beams = gr.Slider(1, 5, value=1, step=1, label="Beam width")
                        words = gr.Number(0, precision=0, label="Summary word budget (0 = none)")
                with gr.Column(scale=3):
                    transcript = gr.Textbox(label="Transcript", lines=5, elem_id="transcript")
                    transcript_diff = gr.HighlightedText(
                        label="Transcript vs reference", color_map=DIFF_COLORS, visible=False
                    )
                    summary = gr.Textbox(label="Summary", lines=3, elem_id="summary")
                    summary_diff = gr.HighlightedText(
                        label="Summary vs reference", color_map=DIFF_COLORS, visible=False
                    )
                    info = gr.Markdown()
                    with gr.Row():
                        latency = gr.Dataframe(
                            headers=dash.LATENCY_HEADERS,
                            label="Latency (s)",
                            interactive=False,
                            scale=2,
                        )
                        memory = gr.Dataframe(
                            headers=dash.MEMORY_HEADERS, label="Memory", interactive=False, scale=3
                        )
                    scores = gr.Dataframe(
                        headers=dash.SCORE_HEADERS,
                        label="Scores vs references (fill the references to get them)",
                        interactive=False,
                    )
            run.click(
                transcribe_and_summarize,
                inputs=[
                    audio, asr, quant, asr_adapter, summarizer, summarizer_quant,
                    summarizer_adapter, device, language, num_beams, sentences, words,
                    ref_transcript, ref_summary,
                ],
                outputs=[
                    transcript, summary, latency, memory, info, scores, transcript_diff,
                    summary_diff,
                ],
                api_name="transcribe",
                concurrency_id=PIPELINE_QUEUE,
                concurrency_limit=settings.concurrency,
            )  # fmt: skip

        with gr.Tab("Compare", id="compare"):
            configs = gr.State([])
            compare_rows = gr.State([])
            with gr.Row():
                with gr.Column(scale=2):
                    c_audio = gr.Audio(
                        sources=["upload", "microphone"],
                        type="filepath",
                        label="Clip",
                        elem_id="compare-audio",
                    )
                    gr.Examples(sample_clips(), inputs=c_audio, label="Sample clips")
                    c_run = gr.Button("Run comparison", variant="primary", elem_id="compare-run")
                    c_ref_transcript = gr.Textbox(label="Reference transcript (optional)", lines=2)
                    c_ref_summary = gr.Textbox(label="Reference summary (optional)", lines=2)
                    c_sentences = gr.Slider(1, 10, value=3, step=1, label="Summary sentences")
                with gr.Column(scale=3):
                    gr.Markdown(
                        f"Add up to {MAX_CONFIGS} configurations; they run one after another on "
                        "the same clip, within the model-cache bound."
                    )
                    c_asr, c_quant, c_asr_adapter, c_summ, c_summ_adapter = _pipeline_inputs(
                        (("asr", "quant", "asr_adapter"), ("summarizer", "summarizer_adapter"))
                    )
                    with gr.Row():
                        add = gr.Button("Add configuration", size="sm")
                        sweep = gr.Button("Add quantization sweep", size="sm")
                        clear = gr.Button("Clear", size="sm")
                    config_table = gr.Dataframe(
                        headers=CONFIG_HEADERS, label="Configurations", interactive=False
                    )
                    c_status = gr.Markdown()
            c_table = gr.Dataframe(label=dash.COMPARE_TABLE_LABEL, interactive=False, wrap=True)
            c_latency, c_memory = _plot("compare-latency"), _plot("compare-memory")
            c_errors, c_summary_scores = _plot("compare-errors"), _plot("compare-summary")
            c_cards = gr.HTML()
            c_csv = gr.File(label="Results as CSV")
            c_save, c_files, c_note = _save_row("Save comparison charts")
            compare_plots = [c_latency, c_memory, c_errors, c_summary_scores]

            add.click(
                add_config,
                inputs=[configs, c_asr, c_quant, c_asr_adapter, c_summ, c_summ_adapter],
                outputs=[configs, config_table],
                queue=False,
            )
            sweep.click(
                add_sweep,
                inputs=[configs, c_asr, c_asr_adapter, c_summ, c_summ_adapter],
                outputs=[configs, config_table],
                queue=False,
            )
            clear.click(clear_configs, outputs=[configs, config_table], queue=False)
            c_run.click(
                run_compare,
                inputs=[c_audio, configs, c_ref_transcript, c_ref_summary, c_sentences, theme],
                outputs=[c_status, c_table, *compare_plots, c_cards, c_csv, compare_rows],
                api_name="compare",
                concurrency_id=PIPELINE_QUEUE,
                concurrency_limit=settings.concurrency,
            )
            c_save.click(
                save_compare_charts, inputs=[compare_rows, theme], outputs=[c_files, c_note]
            )

        with gr.Tab("Training runs", id="runs") as runs_tab:
            with gr.Row(equal_height=True):
                filters = [
                    gr.Dropdown([dash.ALL], value=dash.ALL, label=name.capitalize())
                    for name in dash.RUN_FILTERS
                ]
                with gr.Column(scale=0, min_width=190):
                    reload = gr.Button("Reload runs", elem_id="reload-runs", size="sm")
                    reported = gr.Checkbox(False, label="Thesis numbers", container=False)
            runs_summary = gr.Markdown(elem_id="runs-summary")
            with gr.Tab("WER per epoch"):
                with gr.Row():
                    mode = gr.Dropdown([], label="Mode (top chart: a line per size)")
                    size = gr.Dropdown([], label="Size (bottom chart: a line per mode)")
                wer_by_size, wer_by_mode = _plot("wer-by-size"), _plot("wer-by-mode")
            with gr.Tab("ROUGE vs rank"):
                metric = gr.Dropdown(
                    [(label, key) for key, label in SUMMARY_METRICS.items()],
                    value="rouge1",
                    label="Summary metric",
                )
                rouge = _plot("rouge-vs-rank")
            with gr.Tab("Final metrics"):
                final_table = gr.Dataframe(label="Final metrics (measured)", interactive=False)
            with gr.Tab("Memory and time"):
                memory_plot, minutes_plot = _plot("memory-per-precision"), _plot("minutes")
            with gr.Tab("Benchmarks"):
                bench_latency, bench_memory = _plot("bench-latency"), _plot("bench-memory")
                bench_wer = _plot("bench-wer")
            t_save, t_files, t_note = _save_row("Save these charts")
            run_controls = [*filters, mode, size, metric, reported, theme]
            run_outputs = [
                runs_summary, *filters, mode, size, wer_by_size, wer_by_mode, rouge,
                memory_plot, minutes_plot, bench_latency, bench_memory, bench_wer, final_table,
            ]  # fmt: skip
            for trigger in (reload.click, runs_tab.select, theme.change):
                trigger(refresh_runs, inputs=run_controls, outputs=run_outputs)
            for control in (*filters, mode, size, metric, reported):
                control.input(refresh_runs, inputs=run_controls, outputs=run_outputs)
            t_save.click(save_training_charts, inputs=run_controls, outputs=[t_files, t_note])

        with gr.Tab("Reported vs measured", id="reported") as reported_tab:
            with gr.Row(equal_height=True):
                gr.Markdown(
                    "Solid bars and lines are **measured** by our runs; hatched bars and hollow "
                    "markers labelled **(reported)** are the thesis' published numbers, never "
                    "merged with ours."
                )
                r_metric = gr.Dropdown(
                    [(label, key) for key, label in SUMMARY_METRICS.items()],
                    value="rouge1",
                    label="Summary metric",
                    scale=0,
                    min_width=220,
                )
                r_reload = gr.Button("Reload runs", size="sm", scale=0, min_width=160)
            r_wer, r_rouge = _plot("reported-wer"), _plot("reported-rouge")
            r_memory, r_minutes = _plot("reported-memory"), _plot("reported-minutes")
            r_save, r_files, r_note = _save_row("Save these charts")
            with gr.Accordion("Measured: final metrics of our runs", open=False):
                r_final = gr.Dataframe(interactive=False)
            with gr.Accordion("Reported: the thesis' tables", open=False):
                for title, table in dash.reference_tables().items():
                    gr.Dataframe(table, label=f"Reported — {title}", interactive=False)
            r_outputs = [r_wer, r_rouge, r_memory, r_minutes, r_final]
            for trigger in (r_reload.click, reported_tab.select, r_metric.input, theme.change):
                trigger(refresh_reported, inputs=[r_metric, theme], outputs=r_outputs)
            r_save.click(save_reported_charts, inputs=[r_metric, theme], outputs=[r_files, r_note])

        theme.change(redraw_compare, inputs=[compare_rows, theme], outputs=compare_plots)
        theme.change(None, inputs=theme, js=THEME_JS)
        demo.load(None, js=LIGHT_ON_LOAD_JS)
    return demo


def launch_kwargs(settings: dash.AppSettings) -> dict:
    """What launch() gets besides host and port: theme, CSS, upload limit, served folders."""
    return {
        "theme": gr.themes.Soft(text_size=gr.themes.sizes.text_lg),
        "css": CSS,
        "max_file_size": int(settings.max_upload_mb * 1024 * 1024),
        # Only the sample clips are served from disk; results go through gradio's own cache.
        "allowed_paths": [str(SAMPLES)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default local)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="create a public gradio link")
    args = parser.parse_args(argv)
    settings = dash.AppSettings.from_env()
    demo = build_demo()
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.queue_size)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        **launch_kwargs(settings),
    )


if __name__ == "__main__":
    main()

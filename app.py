"""Gradio app over the ``demo`` core: record or upload a clip, get transcript, summary, costs.

    python app.py                      # http://127.0.0.1:7860, bundled offline models
    python app.py --port 7861 --host 0.0.0.0   # explicit opt-in to listen beyond localhost
    python app.py --share              # explicit opt-in to a public gradio link

The browser microphone only works on https or on localhost.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gradio as gr

from demo.adapters import list_adapters, resolve_adapter
from demo.errors import DemoError
from demo.pipeline import PipelineOptions, PipelineResult, run_pipeline
from demo.quant import QUANT_MODES
from demo.registry import DEFAULT_ASR, DEFAULT_SUMMARIZER, SUMMARIZERS, WHISPER_MODELS

ROOT = Path(__file__).resolve().parent
SAMPLES = ROOT / "assets" / "samples"
MAX_UPLOAD = "50mb"
QUEUE_MAX_SIZE = 16
CONCURRENCY = 1  # two CPU cores: one pipeline at a time keeps latency figures honest
NO_ADAPTER = "none"
LATENCY_HEADERS = ["stage", "seconds"]
MEMORY_HEADERS = ["model", "weights (MB)", "already loaded"]


def sample_clips() -> list[str]:
    """Audio files shipped in assets/samples, for the examples list."""
    return sorted(str(p) for p in SAMPLES.iterdir() if p.suffix in {".flac", ".mp3", ".wav"})


def adapter_choices(base: str) -> list[str]:
    """Dropdown labels of the adapters trained on ``base``, plus "none"."""
    return [NO_ADAPTER] + [a.label for a in list_adapters(base=base)]


def _format(result: PipelineResult):
    t = result.timings
    latency = [[stage, round(t[stage], 3)] for stage in ("load", "asr", "summarize", "total")]
    latency.append(["RTFx (audio s / ASR s)", round(result.rtfx, 1)])
    memory = [
        [f"Whisper {result.options.asr} ({result.options.quant})",
         round(result.memory["asr"].weights_mb, 1), result.memory["asr"].cached],
        [f"summarizer {result.options.summarizer}",
         round(result.memory["summarizer"].weights_mb, 1), result.memory["summarizer"].cached],
        ["process peak RSS", round(result.peak_rss_mb, 1), ""],
    ]  # fmt: skip
    if result.cuda_peak_mb is not None:
        memory.append(["CUDA peak allocated", round(result.cuda_peak_mb, 1), ""])
    info = f"Language: **{result.language_name or result.language}** · device: {result.device}"
    info += "".join(f"\n\n⚠️ {note}" for note in result.notes)
    return result.transcript, result.summary, latency, memory, info


def transcribe_and_summarize(
    audio: str | None,
    asr: str,
    quant: str,
    asr_adapter: str,
    summarizer: str,
    summarizer_adapter: str,
    summary_sentences: float,
    progress=gr.Progress(track_tqdm=True),  # noqa: B008 (gradio's documented idiom)
):
    """Try-it handler: widget values by name -> PipelineOptions -> run -> formatted outputs."""
    if not audio:
        raise gr.Error("Record or upload a clip first (or pick a sample below).")
    try:
        options = PipelineOptions(
            asr=asr,
            quant=quant,
            asr_adapter=resolve_adapter(asr_adapter),
            summarizer=summarizer,
            summarizer_adapter=resolve_adapter(summarizer_adapter),
            summary_sentences=int(summary_sentences),
        )
        return _format(run_pipeline(audio, options))
    except (DemoError, ValueError) as exc:
        raise gr.Error(str(exc)) from None


def build_demo() -> gr.Blocks:
    """Construct the app without launching it."""
    with gr.Blocks(title="Speech → summary") as demo:
        gr.Markdown("# Speech → transcript → summary")
        with gr.Tab("Try it"):
            with gr.Row():
                with gr.Column():
                    audio = gr.Audio(
                        sources=["microphone", "upload"], type="filepath", label="Clip"
                    )
                    gr.Examples(sample_clips(), inputs=audio, label="Sample clips")
                    asr = gr.Dropdown(list(WHISPER_MODELS), value=DEFAULT_ASR, label="Whisper")
                    quant = gr.Dropdown(list(QUANT_MODES), value="full", label="Quantization")
                    asr_adapter = gr.Dropdown(
                        adapter_choices(DEFAULT_ASR), value=NO_ADAPTER, label="Whisper adapter"
                    )
                    summarizer = gr.Dropdown(
                        list(SUMMARIZERS), value=DEFAULT_SUMMARIZER, label="Summarizer"
                    )
                    summarizer_adapter = gr.Dropdown(
                        adapter_choices(DEFAULT_SUMMARIZER),
                        value=NO_ADAPTER,
                        label="Summarizer adapter",
                    )
                    sentences = gr.Slider(1, 10, value=3, step=1, label="Summary sentences")
                    run = gr.Button("Transcribe and summarize", variant="primary")
                with gr.Column():
                    transcript = gr.Textbox(label="Transcript", lines=6, elem_id="transcript")
                    summary = gr.Textbox(label="Summary", lines=4, elem_id="summary")
                    info = gr.Markdown()
                    latency = gr.Dataframe(headers=LATENCY_HEADERS, label="Latency")
                    memory = gr.Dataframe(headers=MEMORY_HEADERS, label="Memory")
            for base, dropdown in ((asr, asr_adapter), (summarizer, summarizer_adapter)):
                base.change(
                    lambda b: gr.Dropdown(choices=adapter_choices(b), value=NO_ADAPTER),
                    inputs=base,
                    outputs=dropdown,
                )
            run.click(
                transcribe_and_summarize,
                inputs=[audio, asr, quant, asr_adapter, summarizer, summarizer_adapter, sentences],
                outputs=[transcript, summary, latency, memory, info],
                api_name="transcribe",
            )
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default local)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="create a public gradio link")
    args = parser.parse_args(argv)
    demo = build_demo()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    demo.launch(
        server_name=args.host,
        server_port=args.port,
        share=args.share,
        max_file_size=MAX_UPLOAD,
        allowed_paths=[str(SAMPLES)],
    )


if __name__ == "__main__":
    main()

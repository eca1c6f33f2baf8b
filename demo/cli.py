"""Command-line interface over the same core as the app.

    python -m demo run assets/samples/jfk.flac --asr tiny.en --quant int8 --summarizer extractive
    python -m demo run clip.webm --asr base --json
    python -m demo models
    python -m demo download small          # fetch a hub model into the HF cache (needs network)

Flags have the names of ``PipelineOptions`` fields; errors print one sentence and exit 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import typing

from demo.errors import DemoError

EXIT_USER_ERROR = 2
# safetensors only: never fetch pickled *.bin weights
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]


def _optional_float(value: str) -> float | None:
    return None if value.lower() == "none" else float(value)


def _add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``PipelineOptions`` field, same name, same default."""
    from demo.pipeline import PipelineOptions

    hints = typing.get_type_hints(PipelineOptions)
    for f in dataclasses.fields(PipelineOptions):
        flag = "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        if hint in (int, float, str):
            parser.add_argument(flag, type=hint, default=f.default)
        elif hint == (int | None):
            parser.add_argument(flag, type=int, default=f.default)
        else:  # str | None
            parser.add_argument(flag, type=str, default=f.default)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="transcribe and summarize one clip")
    run.add_argument("clip", help="audio file: wav, flac, mp3, ogg, webm, m4a")
    _add_option_flags(run)
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    sub.add_parser("models", help="list every model and quantization choice, offline status")
    download = sub.add_parser("download", help="fetch a hub model into the local HF cache")
    download.add_argument("name", help="Whisper or summarizer registry name, or a hub id")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    from demo.pipeline import PipelineOptions, run_pipeline

    fields = {f.name for f in dataclasses.fields(PipelineOptions)}
    options = PipelineOptions(**{k: v for k, v in vars(args).items() if k in fields})
    result = run_pipeline(args.clip, options)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    print(f"Transcript ({result.language_name or result.language}):\n{result.transcript}\n")
    print(f"Summary:\n{result.summary}\n")
    t = result.timings
    print(
        f"Latency: load {t['load']:.2f}s  asr {t['asr']:.2f}s  summarize {t['summarize']:.2f}s  "
        f"total {t['total']:.2f}s  (RTFx {result.rtfx:.1f}, {result.audio_seconds:.1f}s audio)"
    )
    mem = result.memory
    print(
        f"Memory: Whisper weights {mem['asr'].weights_mb:.0f} MB, summarizer weights "
        f"{mem['summarizer'].weights_mb:.0f} MB, peak RSS {result.peak_rss_mb:.0f} MB"
        + (f", CUDA peak {result.cuda_peak_mb:.0f} MB" if result.cuda_peak_mb else "")
    )
    for note in result.notes:
        print(f"Note: {note}")
    return 0


def _cmd_models(_: argparse.Namespace) -> int:
    from demo.quant import QUANT_MODES
    from demo.registry import SUMMARIZERS, WHISPER_MODELS, offline_status

    print("Whisper models (status: bundled = ships offline, cached = in HF cache, download):")
    for name, m in WHISPER_MODELS.items():
        print(f"  {name:<16} {offline_status(name):<9} {m.hub_id}")
    print("Summarizers:")
    for name, s in SUMMARIZERS.items():
        print(f"  {name:<16} {offline_status(name, 'summarizer'):<9} {s.hub_id or 'MiniLM'}")
    print("Quantization modes:")
    for name, q in QUANT_MODES.items():
        print(f"  {name:<16} {'/'.join(q.devices):<9} {q.label}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from huggingface_hub import snapshot_download

    from demo.registry import SUMMARIZERS, get_summarizer, get_whisper_model

    entry = get_summarizer(args.name) if args.name in SUMMARIZERS else get_whisper_model(args.name)
    if getattr(entry, "bundled", None) is not None or entry.hub_id is None:
        print(f"{args.name} ships with the project; nothing to download.")
        return 0
    try:
        path = snapshot_download(entry.hub_id, allow_patterns=DOWNLOAD_PATTERNS)
    except Exception as exc:  # network errors come in many types
        raise DemoError(f"Could not download {entry.hub_id}: {exc}") from exc
    print(f"Downloaded {entry.hub_id} to {path}")
    return 0


COMMANDS = {"run": _cmd_run, "models": _cmd_models, "download": _cmd_download}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR

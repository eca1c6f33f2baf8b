"""Command-line interface over the same core as the app.

    python -m demo run assets/samples/jfk.flac                  # bundled models, fastest mode
    python -m demo run clip.webm --asr base --quant nf4 --json  # full result as JSON
    python -m demo run talk.mp3 --format srt --out talk.srt     # subtitles (txt, srt, vtt, json)
    python -m demo models
    python -m demo download small          # fetch a hub model into the HF cache (needs network)
    python -m demo batch recordings/ --out results/   # every file: a table + an export each

Flags have the names of ``PipelineOptions`` fields; errors print one sentence and exit 2.
On a terminal one progress line shows the stage; ``--json`` prints only JSON on stdout;
library warnings and progress bars are hidden unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from demo.errors import DemoError

EXIT_USER_ERROR = 2
EXIT_SOME_FAILED = 1  # batch: some files could not be used (their rows say why)
EXIT_INTERRUPTED = 130  # batch: Ctrl-C; what finished is saved
MAX_ERRORS_SHOWN = 20  # batch: failed files listed at the end (all are in results.csv)
# safetensors only: never fetch pickled *.bin weights
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken"]
# Loggers whose INFO/WARNING lines are library noise to a CLI user.
NOISY_LOGGERS = ("transformers", "torch", "bitsandbytes", "peft", "accelerate", "huggingface_hub")


def build_parser() -> argparse.ArgumentParser:
    from demo.options import OneLineParser, add_flags
    from demo.pipeline import PipelineOptions

    parser = OneLineParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="show library warnings and bars")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="transcribe and summarize one clip")
    run.add_argument("clip", help="audio file: wav, flac, mp3, ogg, webm, m4a")
    add_flags(run, PipelineOptions)
    run.add_argument("--reference-transcript", help="score the transcript against this text")
    run.add_argument("--reference-summary", help="score the summary against this text")
    run.add_argument(
        "--key-fact", action="append", default=[], metavar="'FACT: KEY; KEY'",
        help="a fact the summary must keep, with the words it must contain (repeatable): "
        "key-fact recall",
    )  # fmt: skip
    run.add_argument("--json", action="store_true", help="print the full result as JSON")
    from demo.export import FORMATS

    run.add_argument("--format", choices=list(FORMATS), help="write the transcript as this")
    run.add_argument("--out", metavar="FILE", help="write --format to FILE (default: stdout)")
    sub.add_parser("models", help="list every model and quantization choice, offline status")
    download = sub.add_parser("download", help="fetch a hub model into the local HF cache")
    download.add_argument("name", help="Whisper or summarizer registry name, or a hub id")
    _add_batch(sub)
    return parser


def _add_batch(sub) -> None:
    from demo.batch import BatchOptions
    from demo.options import add_flags
    from demo.pipeline import PipelineOptions

    batch = sub.add_parser(
        "batch", help="every audio file of a folder or glob: a results table and an export per "
        "file; a rerun skips the files done (demo/batch.py)",
    )  # fmt: skip
    batch.add_argument(
        "source", help="a folder (searched recursively), a quoted glob such as 'calls/**/*.mp3', "
        "or one file",
    )  # fmt: skip
    add_flags(batch, PipelineOptions)
    add_flags(batch, BatchOptions)


@contextlib.contextmanager
def quiet_libraries(verbose: bool, progress: bool) -> Iterator[None]:
    """Hide library warnings, logging and nested progress bars (unless ``verbose``); with
    ``progress`` False, hide every progress bar (``--json``, or stderr not a terminal)."""
    if verbose:
        yield
        return
    from tqdm import std

    original_init = std.tqdm.__init__

    def silent_init(self, *args, **kwargs):
        kwargs["disable"] = True
        original_init(self, *args, **kwargs)

    try:  # imported first: importing transformers resets its logger to WARNING
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    levels = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in NOISY_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        if not progress:
            std.tqdm.__init__ = silent_init
        try:
            yield
        finally:
            std.tqdm.__init__ = original_init
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def _pipeline_options(args: argparse.Namespace):
    from demo.pipeline import PipelineOptions
    from demo.validate import config_fields, validate_config

    # The app's own check (demo.validate); local folders are fine on the user's own machine.
    fields = validate_config({k: getattr(args, k) for k in config_fields()}, local=True)
    return PipelineOptions(**fields, max_seconds=args.max_seconds)


def _cmd_run(args: argparse.Namespace) -> int:
    from demo.pipeline import References, run_pipeline

    options = _pipeline_options(args)
    facts = "\n".join(args.key_fact) or None
    references = References(args.reference_transcript, args.reference_summary, facts)
    if args.out and not args.format:
        raise DemoError("--out needs --format (txt, srt, vtt or json).")
    result = run_pipeline(args.clip, options, references=references)
    if args.format:
        return _write_format(result, args.format, args.out)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
        return 0
    from demo.pipeline import PIPELINES

    stages = PIPELINES[options.pipeline].stage_labels
    shown = result.transcript or "(none)"
    print(f"Transcript ({result.language_name or result.language}):\n{shown}\n")
    print(f"Summary:\n{_grounded_text(result.grounding) or result.summary}\n")
    t, mem = result.timings, result.memory
    timed = "  ".join(f"{stages[s]} {t[s]:.2f}s" for s in ("load", "asr", "summarize"))
    print(
        f"Latency: {timed}  total {t['total']:.2f}s  "
        f"(RTFx {result.rtfx:.1f}, {result.audio_seconds:.1f}s audio)"
    )
    names = {
        "asr": mem["asr"].label or f"Whisper {options.asr} ({mem['asr'].quant})",
        "summarizer": mem["summarizer"].label or f"summarizer {options.summarizer}",
    }
    print(
        "Memory: " + ", ".join(f"{names[k]} {mem[k].weights_mb:.0f} MB" for k in names)
        + f", peak RSS {result.peak_rss_mb:.0f} MB"
        + (f", CUDA peak {result.cuda_peak_mb:.0f} MB" if result.cuda_peak_mb else "")
    )  # fmt: skip
    for key, value in result.scores.items():
        print(f"Score {key}: {value:.3f}")
    for note in result.notes:
        print(f"Note: {note}")
    return 0


def _write_format(result, fmt: str, out: str | None) -> int:
    """``demo.export``'s rendering of the result, to ``out`` or stdout."""
    from pathlib import Path

    from demo.export import render

    text = render(result, fmt)
    if not out:
        sys.stdout.write(text)
        return 0
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise DemoError(f"Could not write {out}: {exc.strerror or exc}.") from exc
    print(f"Wrote {out} ({fmt}, {len(result.segments)} segments)", file=sys.stderr)
    return 0


def _grounded_text(grounding: dict) -> str:
    """The summary a sentence a line, each with the transcript sentences it rests on and the
    details the transcript lacks: "Moved to Monday. [from 3] [not in the transcript: 15th]"."""
    lines = []
    bullet = "• " if grounding.get("style") == "key-points" else ""
    for sentence in grounding.get("sentences") or []:
        where = ", ".join(str(i + 1) for i in sentence["sources"]) or "no single sentence"
        line = f"{bullet}{sentence['text']} [from {where}]"
        details = [d for found in sentence["unsupported"].values() for d in found]
        if details:
            line += f" [not in the transcript: {', '.join(details)}]"
        lines.append(line)
    sources = grounding.get("source_sentences") or []
    cited = sorted({i for s in grounding.get("sentences") or [] for i in s["sources"]})
    if cited:
        lines += ["", "Transcript sentences cited:"]
        lines += [f"  {i + 1}: {sources[i]}" for i in cited if i < len(sources)]
    return "\n".join(lines)


def _cmd_models(_: argparse.Namespace) -> int:
    from demo.asr import registry as asr
    from demo.quant import AUTO, AUTO_MODES, QUANT_MODES
    from demo.summarize import registry as summ

    print("Whisper models (status: bundled = ships offline, cached = in HF cache, download):")
    for name, m in asr.WHISPER_MODELS.items():
        print(f"  {name:<16} {asr.offline_status(name):<9} {m.hub_id}")
    print("Summarizers:")
    for name, s in summ.SUMMARIZERS.items():
        print(f"  {name:<16} {summ.offline_status(name):<9} {summ.describe(s)}")
    print(f"  {summ.AUTO_SUMMARIZER_NAME:<16} {'':<9} the default: {summ.AUTO_SUMMARIZER}")
    print("Summary strategies (<summarizer>+<strategy>, e.g. smollm2-135m+rewrite):")
    from demo.summarize import SUMMARY_STRATEGIES

    for name, strategy in SUMMARY_STRATEGIES.items():
        print(f"  {name:<16} {'/'.join(strategy.kinds):<27} {strategy.help}")
    print("Quantization modes:")
    auto = ", ".join(f"{kind} on {dev}: {mode}" for (kind, dev), mode in AUTO_MODES.items())
    print(f"  {AUTO:<16} {'cpu/cuda':<9} fastest accurate mode ({auto})")
    for name, q in QUANT_MODES.items():
        print(f"  {name:<16} {'/'.join(q.devices):<9} {q.label}")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from huggingface_hub import snapshot_download

    from demo.asr.registry import get_whisper_model
    from demo.summarize.registry import SUMMARIZERS, get_summarizer

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


_KEPT: list = []  # a batch worker's quieting, held open for the life of the process


def _quiet_worker(verbose: bool) -> None:
    """A batch worker process's output quieted as this one's, for its whole life."""
    quiet = quiet_libraries(verbose, progress=False)
    quiet.__enter__()
    _KEPT.append(quiet)  # else collected at once, and its exit undoes the quieting


def _cmd_batch(args: argparse.Namespace) -> int:
    from demo.batch import BatchOptions, run_batch
    from demo.options import from_args

    batch = from_args(BatchOptions, args)
    setup = functools.partial(_quiet_worker, args.verbose)
    summary = run_batch(args.source, _pipeline_options(args), batch, setup=setup)
    out = Path(batch.out)
    print(
        f"{summary.done - summary.failed} done, {summary.failed} failed, {summary.skipped} "
        f"skipped (done before): {out / 'results.csv'}, exports in {out / 'files'}"
    )
    for name, error in summary.errors[:MAX_ERRORS_SHOWN]:
        print(f"  failed: {name}: {error}")
    if len(summary.errors) > MAX_ERRORS_SHOWN:
        print(f"  ... and {len(summary.errors) - MAX_ERRORS_SHOWN} more (status error in the CSV)")
    if summary.interrupted:
        print("Interrupted: the files finished are saved; rerun the same command to go on.")
        return EXIT_INTERRUPTED
    return EXIT_SOME_FAILED if summary.failed else 0


COMMANDS = {
    "run": _cmd_run, "models": _cmd_models, "download": _cmd_download, "batch": _cmd_batch
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    to_stdout = getattr(args, "json", False) or (getattr(args, "format", None) and not args.out)
    progress = not to_stdout and sys.stderr.isatty()
    try:
        with quiet_libraries(args.verbose, progress):
            return COMMANDS[args.command](args)
    except (DemoError, ValueError) as exc:
        # Progress bars close (and clear their line) as the error unwinds through them.
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR

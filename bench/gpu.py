"""GPU throughput benchmark: batched fp16/bf16 Whisper transcription on one CUDA device.

    python -m bench.gpu                               # everything below, on the GPU
    python -m bench.gpu --models tiny.en --batches 1 16 64 --paths generate graph
    python -m bench.gpu --export-audio audio/         # on the CPU machine: clips as .npy
    python -m bench.gpu --audio-dir audio/ --models /root/whisper-tiny.en large-v3-random

Workloads (RTFx = audio seconds / wall seconds, features + encoder + decoder, minimum of the
repeats, CUDA synchronised):

- ``jfk``: a batch of copies of tests/data/jfk.flac (11 s each), real weights, with WER;
- ``long``: the espeak-ng long clip tiled and cut into fixed 30 s windows decoded as one batch
  (chunked long-form: no timestamps, no seek), real weights, with WER;
- ``large-v3-random``: the large-v3 architecture with random weights, 30 s windows of noise,
  exactly ``--decode-tokens`` tokens per window. It measures speed only, not accuracy.

Paths: ``generate`` (transformers ``generate``, SDPA: the baseline), ``static``
(``demo.batched``: fused projections, static KV cache), ``graph`` (the same step replayed as a
CUDA graph). Models are registry names (converted bundled weights in the cache) or local
checkpoint folders; the GPU machine may have neither the bundled packages nor an audio decoder,
so carry a converted checkpoint and ``--export-audio`` output there. Refuses to run without
CUDA. Results: ``checkpoints/bench/gpu.json`` / ``.csv``.
"""

from __future__ import annotations

import argparse
import gc
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.env import (
    DEFAULT_OUT,
    bench_parser,
    meta,
    one_line_errors,
    write_results,
)

MODULE = "bench.gpu"
RANDOM_MODEL = "large-v3-random"
DEFAULT_MODELS = ("tiny.en", "base", RANDOM_MODEL)
PATHS = ("generate", "static", "graph")
DTYPES = ("fp16", "bf16")
DEFAULT_BATCHES = (1, 16, 64)
DECODE_TOKENS = 90  # per 30 s window for the random model (the baseline used 90)
REPEATS = 3
SAMPLE_RATE = 16000
WINDOW_S = 30.0
AUDIO_FILES = {"jfk": "jfk.npy", "long": "long.npy"}


class NoCudaError(RuntimeError):
    pass


@dataclass(frozen=True)
class GpuOptions:
    models: tuple[str, ...] = DEFAULT_MODELS  # registry names, checkpoint dirs, large-v3-random
    dtypes: tuple[str, ...] = ("fp16",)  # fp16 and/or bf16
    paths: tuple[str, ...] = PATHS
    batches: tuple[int, ...] = DEFAULT_BATCHES
    decode_tokens: int = DECODE_TOKENS  # per window, random-weight model only
    repeats: int = REPEATS
    audio_dir: str | None = None  # jfk.npy / long.npy from --export-audio
    out: str = str(DEFAULT_OUT)
    name: str = "gpu"

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.dtypes, DTYPES, "dtypes"),
            (self.paths, PATHS, "paths"),
        ):
            bad = [v for v in value if v not in allowed]
            if bad:
                raise ValueError(f"Unknown {what} {bad}; pick from {', '.join(allowed)}.")
        if any(b < 1 for b in self.batches) or self.repeats < 1 or self.decode_tokens < 1:
            raise ValueError("batches, repeats and decode_tokens must be at least 1.")


@dataclass
class GpuRow:
    config: str
    kind: str  # "gpu"
    model: str
    weights: str  # "real" or "random (speed only)"
    dtype: str
    path: str
    workload: str
    batch: int
    audio_s: float  # audio in one batch
    latency_s: float | None = None  # minimum over the repeats
    rtfx: float | None = None
    tokens_per_window: float | None = None
    wer: float | None = None
    cuda_peak_mb: float | None = None
    error: str | None = None  # a path that failed on this machine, instead of a crash


def require_cuda() -> None:
    """Raise ``NoCudaError`` with one sentence where there is no CUDA device."""
    try:
        import torch
    except ImportError as exc:
        raise NoCudaError("bench.gpu needs torch with CUDA; torch is not installed.") from exc
    if not torch.cuda.is_available():
        raise NoCudaError(
            "bench.gpu needs a CUDA GPU and none is visible here; run `python -m bench.asr` "
            "for the CPU benchmark."
        )


def rtfx(audio_seconds: float, seconds: float) -> float:
    """Real-time factor inverse: audio seconds processed per wall second."""
    if seconds <= 0:
        raise ValueError("seconds must be positive.")
    return audio_seconds / seconds


def tile_windows(audio: np.ndarray, windows: int) -> list[np.ndarray]:
    """``windows`` consecutive 30 s cuts of ``audio`` repeated end to end (last one may be
    shorter only if the audio is)."""
    size = int(WINDOW_S * SAMPLE_RATE)
    repeats = -(-windows * size // max(1, len(audio)))
    tiled = np.tile(audio, repeats)
    return [tiled[i * size : (i + 1) * size] for i in range(windows)]


def export_audio(folder: Path) -> list[Path]:
    """Write jfk and the long clip as float32 16 kHz .npy files for a machine without ffmpeg."""
    from bench.clips import load_clip

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for clip_name, file_name in (("jfk", AUDIO_FILES["jfk"]), ("espeak-long", AUDIO_FILES["long"])):
        path = folder / file_name
        np.save(path, load_clip(clip_name).audio.astype(np.float32))
        written.append(path)
    return written


def load_audio_set(audio_dir: str | None) -> dict[str, tuple[np.ndarray, str]]:
    """``{"jfk": (audio, reference), "long": (audio, reference)}`` from .npy files or clips."""
    from bench.clips import JFK_TEXT, LONG_TEXT

    if audio_dir:
        folder = Path(audio_dir)
        return {
            "jfk": (np.load(folder / AUDIO_FILES["jfk"]), JFK_TEXT),
            "long": (np.load(folder / AUDIO_FILES["long"]), LONG_TEXT),
        }
    from bench.clips import load_clip

    return {
        "jfk": (load_clip("jfk").audio, JFK_TEXT),
        "long": (load_clip("espeak-long").audio, LONG_TEXT),
    }


def random_large_v3(dtype):
    """The large-v3 architecture with random weights on the GPU, and its processor-free
    generation config (English transcription, no timestamps)."""
    import torch
    from transformers import GenerationConfig, WhisperForConditionalGeneration

    from bench.memory import whisper_config

    config = whisper_config("large-v3")
    config.decoder_start_token_id = 50258
    config.eos_token_id = config.pad_token_id = 50257
    with torch.device("cuda"):
        model = WhisperForConditionalGeneration._from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=50258,
        eos_token_id=50257,
        pad_token_id=50257,
        bos_token_id=50257,
        max_length=448,
        no_timestamps_token_id=50364,
        suppress_tokens=[],
        begin_suppress_tokens=[220, 50257],
        is_multilingual=False,  # decode a fixed prompt; the weights don't know any language
    )
    return model.eval()


def mel_filters(n_mels: int) -> np.ndarray:
    from transformers import WhisperFeatureExtractor

    return np.asarray(WhisperFeatureExtractor(feature_size=n_mels).mel_filters, np.float32)


def _sync():
    import torch

    torch.cuda.synchronize()


def _timed(function, repeats: int) -> tuple[float, object]:
    import torch

    from demo.measure import best_time

    torch.cuda.reset_peak_memory_stats()
    return best_time(function, repeats, sync=_sync)


def prompt_tokens(generation_config, multilingual: bool) -> list[int]:
    prompt = [int(generation_config.decoder_start_token_id)]
    if multilingual:
        prompt += [
            int(generation_config.lang_to_id["<|en|>"]),
            int(generation_config.task_to_id["transcribe"]),
        ]
    return prompt + [int(generation_config.no_timestamps_token_id)]


def run_one(model, fast, processor, path, audios, batch, options, random_weights, filters):
    """(seconds, texts or None, tokens per window) for one path and batch."""
    import torch

    from demo.asr.fast.batched import StaticDecoder, greedy_batch, log_mel_batch, strip_batch

    config = model.generation_config
    multilingual = bool(getattr(config, "is_multilingual", False))
    prompt = prompt_tokens(config, multilingual)
    fixed = options.decode_tokens if random_weights else None
    eos = int(config.eos_token_id)
    decoder = None
    if path in ("static", "graph"):
        decoder = StaticDecoder(fast, batch, graph=path == "graph")

    def call():
        features = log_mel_batch(audios, filters, "cuda")
        if path == "generate":
            kwargs = {"language": "en", "task": "transcribe"} if multilingual else {}
            if fixed:
                kwargs.update(min_new_tokens=fixed, max_new_tokens=fixed)
            with torch.inference_mode():
                return model.generate(input_features=features.to(model.dtype), **kwargs)
        return greedy_batch(
            fast,
            features,
            prompt,
            max_new_tokens=fixed,
            min_new_tokens=fixed or 0,
            decoder=decoder,
        )

    seconds, tokens = _timed(call, options.repeats)
    rows = strip_batch(tokens, eos)
    per_window = float(np.mean([len(r) for r in rows])) if rows else 0.0
    texts = (
        None if random_weights else processor.tokenizer.batch_decode(rows, skip_special_tokens=True)
    )
    return seconds, texts, per_window


def bench_model(name: str, dtype_name: str, options: GpuOptions, audio_set) -> list[GpuRow]:
    import torch

    from demo.asr.fast import to_fast
    from demo.metrics import wer

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[dtype_name]
    random_weights = name == RANDOM_MODEL
    if random_weights:
        model, processor = random_large_v3(dtype), None
        filters = mel_filters(128)
        rng = np.random.default_rng(0)
        noise = (0.05 * rng.standard_normal(int(WINDOW_S * SAMPLE_RATE))).astype(np.float32)
        workloads = {"noise": (noise, None)}
    else:
        from demo.asr.registry import get_whisper_model
        from demo.loaders import load_whisper_base

        quant = "fp16" if dtype_name == "fp16" else "bf16"
        model, processor = load_whisper_base(
            get_whisper_model(name), quant, "cuda", attn_implementation="sdpa"
        )
        model.eval()
        filters = np.asarray(processor.feature_extractor.mel_filters, np.float32)
        workloads = audio_set
    fast = None
    if any(p != "generate" for p in options.paths):
        fast = to_fast(model, dtype_name, dtype_name).to("cuda")
    rows = []
    for workload, (audio, reference) in workloads.items():
        for batch in options.batches:
            if workload == "jfk":
                audios, seconds_each = [audio] * batch, len(audio) / SAMPLE_RATE
                references = [reference] * batch
            else:
                audios, seconds_each = tile_windows(audio, batch), WINDOW_S
                references = None
            for path in options.paths:
                row = GpuRow(
                    config=f"{name} {dtype_name} {path} b{batch} · {workload}",
                    kind="gpu",
                    model=name,
                    weights="random (speed only)" if random_weights else "real",
                    dtype=dtype_name,
                    path=path,
                    workload=workload,
                    batch=batch,
                    audio_s=seconds_each * batch,
                )
                try:
                    seconds, texts, per_window = run_one(
                        model,
                        fast,
                        processor,
                        path,
                        audios,
                        batch,
                        options,
                        random_weights,
                        filters,
                    )
                except Exception as exc:  # one failing path must not hide the others
                    row.error = f"{type(exc).__name__}: {exc}"[:300]
                    rows.append(row)
                    torch.cuda.empty_cache()
                    continue
                row.latency_s = seconds
                row.rtfx = rtfx(row.audio_s, seconds)
                row.tokens_per_window = per_window
                row.cuda_peak_mb = torch.cuda.max_memory_allocated() / 2**20
                if texts is not None and references is not None:
                    row.wer = float(
                        np.mean([wer(r, t) for r, t in zip(references, texts, strict=True)])
                    )
                elif texts is not None and workload == "long":
                    row.wer = wer(" ".join([reference] * (len(texts))), " ".join(texts))
                rows.append(row)
    del model, fast
    gc.collect()
    torch.cuda.empty_cache()
    return rows


def run(options: GpuOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    require_cuda()
    meta_ = meta(MODULE, argv, notes=NOTES, options=asdict(options))
    audio_set = load_audio_set(options.audio_dir)
    rows = []
    for name in options.models:
        for dtype_name in options.dtypes:
            rows += bench_model(name, dtype_name, options, audio_set)
    data = [asdict(r) for r in rows]
    return write_results(Path(options.out), options.name, meta_, data), data


NOTES = [
    "RTFx counts features (on the GPU), encoder and decoder; minimum of the repeats.",
    "large-v3-random: random weights of the real shapes and a fixed number of decoded tokens "
    "per window; it measures speed, not accuracy.",
    "long: fixed 30 s cuts decoded as one batch (chunked long-form); the WER compares the "
    "joined text with the tiled reference, so words cut at window edges count as errors.",
]


def format_table(rows: list[dict]) -> str:
    head = f"{'configuration':48s} {'latency s':>9s} {'RTFx':>8s} {'tok/win':>7s} {'WER':>6s}"
    lines = [head, "-" * len(head)]
    for r in rows:
        if r["error"]:
            lines.append(f"{r['config']:48s} failed: {r['error']}")
            continue
        wer_ = "-" if r["wer"] is None else f"{r['wer']:.3f}"
        lines.append(
            f"{r['config']:48s} {r['latency_s']:9.3f} {r['rtfx']:8.0f} "
            f"{r['tokens_per_window']:7.1f} {wer_:>6s}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> tuple[GpuOptions, argparse.Namespace]:
    p = bench_parser(MODULE, __doc__)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--dtypes", nargs="+", default=["fp16"], choices=list(DTYPES))
    p.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS))
    p.add_argument("--batches", nargs="+", type=int, default=list(DEFAULT_BATCHES))
    p.add_argument("--decode-tokens", type=int, default=DECODE_TOKENS, dest="decode_tokens")
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--audio-dir", dest="audio_dir")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--name", default="gpu")
    p.add_argument("--export-audio", dest="export_audio", help="write .npy clips here and exit")
    args = p.parse_args(argv)
    options = GpuOptions(
        models=tuple(args.models),
        dtypes=tuple(args.dtypes),
        paths=tuple(args.paths),
        batches=tuple(args.batches),
        decode_tokens=args.decode_tokens,
        repeats=args.repeats,
        audio_dir=args.audio_dir,
        out=args.out,
        name=args.name,
    )
    return options, args


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    options, args = parse_args(argv)
    if args.export_audio:
        for path in export_audio(Path(args.export_audio)):
            print(f"written: {path}")
        return 0
    try:
        path, rows = run(options, argv)
    except NoCudaError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(format_table(rows))
    print(f"\nwritten: {path} (+ .csv)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

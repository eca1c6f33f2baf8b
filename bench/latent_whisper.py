"""Latent-compressed Whisper with REAL weights beside the original: WER, reconstruction error,
decoder size and decode time, on the clips of one manifest split.

    python -m bench.latent_whisper --manifest data/sci/manifest.jsonl --split test \\
        --runs checkpoints/asr-tiny.en-latent-ae-z* checkpoints/asr-tiny.en-latent-dec-z256-* \
        --pca-latents 256 128 64 32
    python -m bench.latent_whisper --manifest data/sci/manifest.jsonl --runs <run> --max-clips 20

``--runs`` are run folders of ``training.train_latent``. A stage-autoencoder run is scored as
the original (frozen) Whisper reading the autoencoder's reconstruction of its encoder output:
WER, and the reconstruction's MSE and share of the encoder output's variance (FVU). A
``--pca-latents`` adds the same frozen decoder reading a PCA projection of the encoder output
(fitted on train-split clips): the best linear map through that many dimensions, the reference
the autoencoders are read against. A
stage-decoder run is the compressed model (``LatentModel``): WER, decoder parameters, and the
time to transcribe each clip (batch 1, greedy unless ``--num-beams``) with the encoder's share
measured alone, so the decoder's time is the rest. The original model of each base runs in the
same interleaved rounds; times are minima over the rounds. Results:
``checkpoints/bench/latent-whisper.json`` / ``.csv``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.env import (
    DEFAULT_OUT,
    bench_parser,
    meta,
    one_line_errors,
    write_results,
)
from demo.options import add_flags, from_args, option

MODULE = "bench.latent_whisper"


@dataclass(frozen=True)
class LatentWhisperOptions:
    manifest: str = option("data/sci/manifest.jsonl", "speech manifest (audio, text, split)")
    split: str = option("test", "manifest split to score")
    runs: tuple[str, ...] = option((), "training.train_latent run folders")
    max_clips: int | None = option(None, "score at most this many clips")
    repeats: int = option(2, "timed rounds over the clips; the minimum is reported")
    num_beams: int = option(1, "beam width (1: greedy, as the app transcribes)")
    max_new_tokens: int = option(128, "longest transcript")
    pca_latents: tuple[int, ...] = option(
        (), "also the frozen decoder reading a PCA projection at these widths (linear reference)"
    )
    pca_clips: int = option(40, "clips of the manifest's train split the PCA is fitted on")
    threads: int = option(1, "torch intra-op threads (one: stable on a shared machine)")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("latent-whisper", "result file name (without suffix)")

    def __post_init__(self) -> None:
        if not self.runs:
            raise ValueError("Give --runs: run folders of training.train_latent.")
        if self.repeats < 1 or self.num_beams < 1:
            raise ValueError("repeats and num_beams must be at least 1.")


# Variants that only reconstruct the encoder output for the original decoder (not timed).
RECONSTRUCTIONS = ("reconstruction", "pca")


@dataclass
class Row:
    config: str  # "tiny.en latent 256 (<run id>)"
    kind: str  # always "latent-asr"
    model: str  # base Whisper
    variant: str  # original, reconstruction or latent
    weights: str  # always "real"
    clips: int
    latent: int | None = None
    run_id: str | None = None
    wer: float | None = None
    cer: float | None = None
    reconstruction_mse: float | None = None
    reconstruction_fvu: float | None = None
    decoder_params: int | None = None
    decoder_params_ratio: float | None = None  # to the original decoder
    transcribe_s: float | None = None  # all clips, encoder + decoding, minimum over rounds
    encoder_s: float | None = None  # the encoder's part, timed alone in the same rounds
    decoder_s: float | None = None  # transcribe - encoder
    tokens: int | None = None  # output positions over all clips (prompt included)
    decoder_ms_per_token: float | None = None  # decoder_s per output position
    decoder_ratio: float | None = None  # per-token decoder time, to the original's
    example: str | None = None  # the first clip's transcript


def read_clips(
    options: LatentWhisperOptions, split: str | None = None, limit: int | None = None
) -> list[tuple[Any, str]]:
    """(16 kHz audio, transcript) of the rows of ``split`` (default: the scored split)."""
    from demo.audio import load_audio
    from demo.errors import DemoError
    from training.data import DataReport, read_manifest

    path = Path(options.manifest)
    rows = read_manifest(path, DataReport(str(path)), strict=False)
    split = split or options.split
    chosen = [row for _, row in rows if row.get("split") == split]
    limit = limit if split != options.split else options.max_clips
    if limit:
        chosen = chosen[:limit]
    if not chosen:
        raise DemoError(f"{path} has no rows with split {split!r}.")
    return [(load_audio(path.parent / row["audio"]), row["text"]) for row in chosen]


def _run_info(folder: Path) -> dict[str, Any]:
    from demo.errors import DemoError

    path = folder / "run.json"
    info = json.loads(path.read_text()) if path.is_file() else {}
    if info.get("system") != "latent":
        raise DemoError(f"{folder} is not a training.train_latent run (no run.json of it).")
    return info


def measure_base(name: str, runs: list[Path], clips, options) -> list[Row]:
    """The original Whisper ``name`` and every run trained from it."""
    from functools import cache

    import torch

    from demo.compress.autoencoder import PcaProjection, load_autoencoder
    from demo.compress.latent import LatentModel, ReconstructionProbe, decoder_parameters
    from demo.metrics import asr_scores
    from demo.models import ModelSpec, load_model
    from training.runs import FULL_MODEL_DIR

    loaded = load_model(ModelSpec("asr", name, "full", device="cpu"))
    original, processor = loaded.model.eval(), loaded.processor

    def features_of(some):  # log-mel input of each (audio, text) clip
        return [processor(a, sampling_rate=16000, return_tensors="pt").input_features
                for a, _ in some]  # fmt: skip

    features = features_of(clips)
    references = [text for _, text in clips]
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_new_tokens,
        "num_beams": options.num_beams,
    }
    if getattr(original.generation_config, "is_multilingual", False):
        kwargs.update(language="en", task="transcribe")
    models: dict[str, Any] = {"original": original}

    @cache
    def pca_fit():  # the original encoder's outputs on train clips, once for every width
        fit = features_of(read_clips(options, "train", options.pca_clips))
        encoder = original.get_encoder()
        with torch.no_grad():
            return torch.cat([encoder(feature).last_hidden_state[0] for feature in fit])

    rows = {"original": Row(f"{name} original", "latent-asr", name, "original", "real", len(clips))}
    rows["original"].decoder_params = decoder_parameters(original)
    for folder in runs:
        info = _run_info(folder)
        extra, run_id = info.get("extra", {}), info["run_id"]
        latent = extra.get("latent")
        if extra.get("stage") == "autoencoder":
            probe = ReconstructionProbe(original, load_autoencoder(folder / FULL_MODEL_DIR)).eval()
            label = f"{name} reconstruction {latent} ({run_id})"
            row = Row(
                label, "latent-asr", name, "reconstruction", "real", len(clips), latent, run_id
            )
            row.reconstruction_mse, row.reconstruction_fvu = _reconstruction(probe, features)
            models[run_id] = probe
        else:
            model = LatentModel.from_pretrained(folder / FULL_MODEL_DIR)
            label = f"{name} latent {latent} ({run_id})"
            row = Row(label, "latent-asr", name, "latent", "real", len(clips), latent, run_id)
            row.decoder_params = decoder_parameters(model)
            row.decoder_params_ratio = round(
                row.decoder_params / rows["original"].decoder_params, 4
            )
            models[run_id] = model
        rows[run_id] = row
    for width in options.pca_latents:
        key = f"pca-{width}"
        probe = ReconstructionProbe(original, PcaProjection.fit(pca_fit(), width)).eval()
        row = Row(f"{name} PCA {width}", "latent-asr", name, "pca", "real", len(clips), width)
        row.reconstruction_mse, row.reconstruction_fvu = _reconstruction(probe, features)
        models[key], rows[key] = probe, row
    timed = [key for key, row in rows.items() if row.variant not in RECONSTRUCTIONS]
    totals: dict[str, list[float]] = {key: [] for key in models}
    encoders: dict[str, list[float]] = {key: [] for key in timed}
    texts: dict[str, list[str]] = {}
    tokens: dict[str, int] = {}
    with torch.no_grad():
        for _ in range(options.repeats):
            for key, model in models.items():
                outputs, total, encoder, positions = [], 0.0, 0.0, 0
                for feature in features:
                    start = time.perf_counter()
                    ids = model.generate(input_features=feature, **kwargs)
                    total += time.perf_counter() - start
                    outputs += processor.batch_decode(ids, skip_special_tokens=True)
                    positions += int(ids.shape[-1])
                    if key in encoders:
                        encode = original.get_encoder() if key == "original" else model.encoder
                        start = time.perf_counter()
                        encode(feature)
                        encoder += time.perf_counter() - start
                totals[key].append(total)
                if key in encoders:
                    encoders[key].append(encoder)
                texts[key] = [text.strip() for text in outputs]
                tokens[key] = positions
    for key, row in rows.items():
        scores = asr_scores(references, texts[key], language="en")
        row.wer, row.cer = round(scores["wer"], 4), round(scores["cer"], 4)
        row.example = texts[key][0]
        if key in encoders:
            row.transcribe_s = round(min(totals[key]), 3)
            row.encoder_s = round(min(encoders[key]), 3)
            row.decoder_s = round(row.transcribe_s - row.encoder_s, 3)
            row.tokens = tokens[key]
            row.decoder_ms_per_token = round(1000 * row.decoder_s / tokens[key], 3)
    # Per token: an untrained decoder that runs to max_new_tokens would otherwise look slow.
    base = rows["original"].decoder_ms_per_token
    for row in rows.values():
        if row.decoder_ms_per_token is not None and base:
            row.decoder_ratio = round(row.decoder_ms_per_token / base, 4)
    return list(rows.values())


def _reconstruction(probe, features) -> tuple[float, float]:
    for feature in features:
        probe(input_features=feature, decoder_input_ids=_start(probe))
    scores = probe.pop_scores()
    return round(scores["reconstruction_mse"], 5), round(scores["reconstruction_fvu"], 5)


def _start(model):
    import torch

    return torch.tensor([[model.config.decoder_start_token_id]])


def run(options: LatentWhisperOptions, argv: list[str] | None = None):
    import torch

    if options.threads:
        torch.set_num_threads(options.threads)
    clips = read_clips(options)
    by_base: dict[str, list[Path]] = {}
    for run_dir in options.runs:
        folder = Path(run_dir)
        by_base.setdefault(_run_info(folder)["model"], []).append(folder)
    rows: list[dict] = []
    for name, runs in by_base.items():
        rows += [asdict(r) for r in measure_base(name, runs, clips, options)]
    meta_ = meta(MODULE, argv, notes=NOTES, options=asdict(options))
    path = write_results(Path(options.out), options.name, meta_, rows)
    return path, rows


NOTES = [
    "Real Whisper weights; the runs' autoencoders and decoders are what training.train_latent "
    "trained (see each run's run.json for its data and steps).",
    "WER/CER: corpus-level, normalised (demo.metrics.asr_scores).",
    "Times: batch 1 per clip, summed over the clips, minimum over interleaved rounds; "
    "encoder_s is the encoder timed alone in the same rounds; decoder_s = transcribe - encoder; "
    "decoder_ratio compares decoder time per output position (an untrained decoder may run to "
    "max_new_tokens).",
]


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(MODULE, __doc__)
    add_flags(parser, LatentWhisperOptions)
    options = from_args(LatentWhisperOptions, parser.parse_args(argv))
    path, rows = run(options, argv)
    for r in rows:
        params = f"{r['decoder_params'] / 1e6:.1f}M" if r["decoder_params"] else "-"
        speed = r["decoder_ms_per_token"]
        speed = f"{speed:.1f} ms/token" if speed is not None else "-"
        fvu = r["reconstruction_fvu"]
        fvu = f"  FVU {fvu:.3f}" if fvu is not None else ""
        print(f"{r['config']:60s} WER {r['wer']:.3f}  decoder {params:>6s}  {speed}{fvu}")
    print(f"\nwritten: {path} (+ .csv)")


if __name__ == "__main__":
    main()

"""The Q-Former bridge as an ASR choice: the frozen Whisper decoder reads Nq query vectors per
chunk of speech instead of the encoder's 1500 frames (``demo.bridge.asr``), offered as one more
"compression" of a Whisper model beside the low-rank ones (``demo.compress.choices``).

What ships is the bridge's query path in fp16 (``export_bridge``: the queries, the Q-Former's
query blocks, the speech LayerNorm and the Whisper head; ~25 MB for 100 queries), in
``checkpoints/<run>/bridge-fp16/``, beside the whole fp32 bridge that training writes (kept out
of git). Its ``bridge.json`` records the frozen Whisper's ``weights_fingerprint``: loading it on
other Whisper weights fails in one sentence instead of transcribing nonsense.

Long audio is cut at pauses into chunks of at most ``CHUNK_SECONDS`` (the bridge trained on
clips of 2-17 s; its queries are spread over a chunk's real frames), encoded and decoded in
batches, and the chunks' texts become the transcript's segments.

    python -m demo.bridge.serve checkpoints/bridge-asr-tiny.en-q100-v2-seg   # writes bridge-fp16/
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from demo.bridge.asr import WHISPER_HEAD, transcribe_bridge
from demo.bridge.model import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    BridgeError,
    SpeechBridge,
    load_bridge,
    read_bridge_config,
)
from demo.errors import DemoError

TRAINED_DIR = "bridge"  # what train_bridge writes in its run folder (fp32, all of it)
SERVE_DIR = "bridge-fp16"  # what the app loads and git keeps
CHUNK_SECONDS = 15.0
BATCH = 8  # chunks encoded and decoded together
NO_REPEAT_NGRAM = 4  # an undertrained bridge's greedy decoding loops; this stops it
MAX_NEW_TOKENS = 96  # a 15 s chunk holds ~45 words
# Measured (checkpoints/bench/bridge-v2-*.json): as good as tiny.en on held-out synthetic voices,
# far worse on the real-speech set, where it repeats itself on short prompts.
CAVEAT = (
    "The Q-Former bridge is a research system trained on synthetic voices: on real speech it "
    "often repeats words, so check its transcript against tiny.en without compression."
)


@dataclass(frozen=True)
class BridgeInfo:
    """A servable bridge as the compression dropdown sees it."""

    label: str  # run id, Nq, what it reads
    path: Path  # the folder holding the fp16 bridge.json
    base: str  # the Whisper model whose encoder and decoder it was trained against
    fingerprint: str | None  # demo.provenance.weights_fingerprint of that Whisper
    num_queries: int
    kind: str = "bridge"
    adapter: Path | None = None  # a bridge takes no adapter


def serve_folder(path: str | Path) -> Path:
    """The fp16 bridge folder a path names: itself, or ``<run>/bridge-fp16``."""
    path = Path(path)
    return path / SERVE_DIR if (path / SERVE_DIR).is_dir() else path


def bridge_info(path: str | Path) -> BridgeInfo:
    """What a servable bridge folder (or its run folder) is, read from its json, checked."""
    folder = serve_folder(path)
    config = read_bridge_config(folder)
    if WHISPER_HEAD not in config.heads:
        raise BridgeError(f"{folder} has no head for Whisper's decoder; train --stage asr first.")
    if not (folder / WEIGHTS_FILE).is_file():
        raise BridgeError(f"{folder} has no {WEIGHTS_FILE}; export the trained bridge again.")
    run = folder.parent.name if folder.name in (SERVE_DIR, TRAINED_DIR) else folder.name
    nq = config.qformer.num_queries
    label = f"{run} (Q-Former bridge: {nq} vectors for 1500 frames)"
    return BridgeInfo(label, folder, config.encoder, config.base_fingerprint, nq)


def list_bridges(root: str | Path, base: str | None = None) -> list[BridgeInfo]:
    """Servable bridges under ``root/<run>/bridge-fp16/`` (optionally for one Whisper)."""
    from demo.adapters import saved_under

    found = saved_under(root, f"*/{SERVE_DIR}/{CONFIG_FILE}", bridge_info)
    return [info for info in found if base is None or info.base == base]


def export_bridge(run: str | Path, whisper=None) -> Path:
    """Write ``<run>/bridge-fp16/``: the trained bridge's query path and Whisper head in fp16,
    with the frozen Whisper's fingerprint (``whisper``: that model, else loaded here)."""
    from demo.provenance import weights_fingerprint

    run = Path(run)
    bridge = load_bridge(run / TRAINED_DIR if (run / TRAINED_DIR).is_dir() else run)
    if WHISPER_HEAD not in bridge.heads:
        raise BridgeError(f"{run} has no head for Whisper's decoder; train --stage asr first.")
    whisper = whisper if whisper is not None else _load_whisper(bridge.config.encoder)
    bridge.keep_query_path(WHISPER_HEAD)
    bridge.config = replace(bridge.config, base_fingerprint=weights_fingerprint(whisper))
    return bridge.save(run / SERVE_DIR, torch.float16)


def _load_whisper(name: str):
    from demo.asr.registry import get_whisper_model
    from demo.loaders import load_whisper_base

    model, _ = load_whisper_base(get_whisper_model(name), "full", "cpu")
    return model


class BridgeWhisper(nn.Module):
    """A frozen Whisper whose decoder reads a bridge's query vectors (what ``demo.models``
    loads for a bridge compression); ``generation_config`` is Whisper's."""

    def __init__(self, bridge: SpeechBridge, whisper) -> None:
        super().__init__()
        self.bridge = bridge
        self.whisper = whisper

    @property
    def generation_config(self):
        return self.whisper.generation_config

    def transcript_of(self, loaded, audio: np.ndarray, options):
        """What ``demo.asr.transcribe`` returns for a model with its own way to transcribe."""
        return transcribe_with_bridge(loaded, audio, options.num_beams)


def attach_bridge(info: BridgeInfo, whisper) -> BridgeWhisper:
    """``whisper`` (loaded fp32) with the bridge ``info`` names; other weights than it was
    trained against are refused in one sentence."""
    from demo.provenance import weights_fingerprint

    if info.fingerprint and weights_fingerprint(whisper) != info.fingerprint:
        raise BridgeError(
            f"The bridge {info.path.parent.name} was trained against other {info.base} weights "
            "than the ones loaded here; load the stock model (no adapter, no other checkpoint)."
        )
    bridge = load_bridge(info.path, encoder=info.base, device=str(whisper.device))
    return BridgeWhisper(bridge, whisper).eval()


def transcribe_with_bridge(loaded, audio: np.ndarray, num_beams: int = 1):
    """A ``demo.asr.Transcript`` of 16 kHz audio through the bridge: cut at pauses, each chunk
    encoded by the frozen encoder, read by the queries, decoded by the frozen decoder (English:
    the bridges here read English-only Whisper models)."""
    from tqdm.auto import tqdm

    from demo.asr.fast.chunked import speech_chunks
    from demo.asr.segments import Segment
    from demo.asr.transcribe import Transcript, window_count
    from demo.audio import SAMPLE_RATE
    from demo.bridge.features import encode_clips
    from demo.cancel import check

    model: BridgeWhisper = loaded.model
    spans = speech_chunks(audio, int(CHUNK_SECONDS * SAMPLE_RATE))
    segments: list[Segment] = []
    with tqdm(total=len(spans), unit="chunk", desc="transcribing (bridge)", leave=False) as bar:
        for first in range(0, len(spans), BATCH):
            check()
            batch = spans[first : first + BATCH]
            clips = [audio[a:b] for a, b in batch]
            with torch.inference_mode():
                features, mask = encode_clips(model.whisper, loaded.processor, clips)
                texts = transcribe_bridge(
                    model.bridge, model.whisper, loaded.processor, features, mask,
                    max_new_tokens=MAX_NEW_TOKENS, num_beams=num_beams,
                    no_repeat_ngram=NO_REPEAT_NGRAM,
                )  # fmt: skip
            for (a, b), text in zip(batch, texts, strict=True):
                if text:
                    start, end = round(a / SAMPLE_RATE, 3), round(b / SAMPLE_RATE, 3)
                    segments.append(Segment(start, end, text))
            bar.update(len(batch))
    text = " ".join(s.text for s in segments)
    return Transcript(text, "en", "English", False, window_count(audio), segments)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.bridge.serve",
        description="Write a trained bridge's fp16 query path (what the app loads) into "
        f"<run>/{SERVE_DIR}/.",
    )
    parser.add_argument("runs", nargs="+", help="bridge run folders (checkpoints/bridge-*)")
    args = parser.parse_args(argv)
    try:
        for run in args.runs:
            folder = export_bridge(run)
            size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
            print(f"{folder}: {size:.1f} MB")
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

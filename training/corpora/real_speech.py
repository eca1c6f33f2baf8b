"""Real human speech as an evaluation split of every ASR run (split "real-speech").

Fine-tuning on synthetic speech can cost accuracy on real speech; every ASR run scores the
real-speech set (``training.corpora.make_real_speech``: ~560 human clips, ~3,400 words, built
by ``make real-speech`` into ``data/real-speech/``) before training and at the end. The two
recordings that ship in ``assets/samples`` (jfk and the English half of multilingual.mp3, 107
words; references and the part of each file used in ``assets/samples/references.json``) are
scored beside it as a small sample (split "real-speech-sample"); when the set is not built they
stand in for it under "real-speech", with a warning, as they did before the set existed.
"""

from __future__ import annotations

import io
import json
import sys
import wave
from pathlib import Path

import numpy as np

from demo.settings import ROOT
from training.corpora.subsample import subsample

SAMPLES = ROOT / "assets" / "samples"
REFERENCES = SAMPLES / "references.json"
MANIFEST = ROOT / "data" / "real-speech" / "manifest.jsonl"
SPLIT = "real-speech"
SAMPLE_SPLIT = "real-speech-sample"
BUILD_COMMAND = "make real-speech"


def _wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def sample_rows(folder: Path = SAMPLES) -> list[tuple[int, dict]]:
    """``(row, {"audio", "text"})`` per sample recording, cut to its English part (<= 30 s)."""
    from demo.audio import SAMPLE_RATE, load_audio

    references = json.loads((folder / REFERENCES.name).read_text(encoding="utf-8"))
    rows = []
    for number, (name, ref) in enumerate(sorted(references.items()), start=1):
        audio = load_audio(folder / name, max_seconds=None)
        if ref.get("end_seconds"):
            audio = audio[: int(ref["end_seconds"] * SAMPLE_RATE)]
        rows.append(
            (number, {"audio": {"bytes": _wav_bytes(audio, SAMPLE_RATE)}, "text": ref["text"]})
        )
    return rows


def set_rows(
    manifest: Path = MANIFEST, max_clips: int | None = None, seed: int | None = None
) -> list[tuple[int, dict]]:
    """``(row, {"audio": absolute path, "text"})`` per clip of a built real-speech set (its
    first ``max_clips``, or that many drawn with ``seed``: ``training.corpora.subsample``); a
    manifest that isn't there is one error naming the build command."""
    from demo.errors import DemoError

    manifest = Path(manifest)
    if not manifest.is_file():
        raise DemoError(f"No real-speech set at {manifest}; build it with: {BUILD_COMMAND}")
    lines = manifest.read_text(encoding="utf-8").splitlines()
    rows = [row for line in lines if line and (row := json.loads(line)).get("split") == "test"]
    return [
        (number, {"audio": str((manifest.parent / row["audio"]).resolve()), "text": row["text"]})
        for number, row in subsample(list(enumerate(rows, start=1)), max_clips, seed)
    ]


def real_speech_sets(
    manifest: Path = MANIFEST, max_clips: int | None = None, seed: int | None = None
) -> dict[str, tuple[str, list[tuple[int, dict]]]]:
    """{split: (where its rows come from, rows)}: ``SPLIT`` the built set and ``SAMPLE_SPLIT``
    the two sample recordings; without a built set, ``SPLIT`` holds the sample (warned)."""
    if not Path(manifest).is_file():
        print(
            f"warning: no real-speech set at {manifest} ({BUILD_COMMAND} builds it); the "
            f"{SPLIT} split is the 2-clip sample in assets/samples (107 words) instead.",
            file=sys.stderr,
        )
        return {SPLIT: ("assets/samples (real speech, the set is not built)", sample_rows())}
    return {
        SPLIT: (f"{manifest} (real speech)", set_rows(manifest, max_clips, seed)),
        SAMPLE_SPLIT: ("assets/samples (real-speech sample)", sample_rows()),
    }


def real_speech_rows(
    manifest: Path = MANIFEST, max_clips: int | None = None
) -> list[tuple[int, dict]]:
    """The ``SPLIT`` rows ``real_speech_sets`` gives: the built set, else the sample."""
    return real_speech_sets(manifest, max_clips)[SPLIT][1]

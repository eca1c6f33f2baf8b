"""The real recordings that ship in ``assets/samples`` as an evaluation split.

Fine-tuning on synthetic speech can cost accuracy on real speech; every ASR run scores these
clips before training and at the end (split "real-speech"). References and the part of each
file used are in ``assets/samples/references.json``.
"""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np

from demo.settings import ROOT

SAMPLES = ROOT / "assets" / "samples"
REFERENCES = SAMPLES / "references.json"
SPLIT = "real-speech"


def _wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def real_speech_rows(folder: Path = SAMPLES) -> list[tuple[int, dict]]:
    """``(row, {"audio", "text"})`` per clip, cut to its English part (at most 30 s)."""
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

"""Long-form programmes that look like use: short utterances at a natural rate with short
pauses, minutes long, built from the corpora in data/ (issue 37).

- ``real-5min-a``, ``real-5min-b``, ``real-10min``: the human clips of the real-speech set
  (``make real-speech``: telephone-prompt recordings and a two-voice conversation, most of
  them 0.6-4 s) in a seeded order, joined with pauses of 0.2-0.8 s; the three draw on
  disjoint clips.
- ``voices-5min``: corpus-v2 test clips (four held-out synthetic voices) spoken at 170 words
  a minute, their normal rate, with the same pauses.
- ``real-music-5min``: real-speech clips again (another order) with 3-8 s of music, noise or
  applause-like bursts (``bench.silence_clips``' generators) between every 30-60 s of talk.

Under everything lies a faint room noise (about -55 dBFS), as under any recording. Each
programme's reference is its clips' transcripts joined in order. ``perturbed`` gives copies
that no one could hear apart (``PERTURBATIONS``: a dither of one 16-bit step, a gain of
+0.1 dB): a verdict that holds on one copy and not the next is noise.

Built deterministically (``SEED``) from data/ and cached as WAV files in the cache folder
(``settings().cache_dir / "bench" / "programmes"``, not in git); data/ missing is one clear
error naming the command that builds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.clips import CLIPS, ROOT, Clip, load_clip, manifest_rows
from demo.audio import SAMPLE_RATE, load_audio, write_wav
from demo.settings import settings

SEED = 37
PAUSE_S = (0.2, 0.8)  # natural pauses between utterances
FLOOR = 0.0018  # room noise under the whole programme, about -55 dBFS
REAL = ROOT / "data" / "real-speech" / "manifest.jsonl"
VOICES = ROOT / "data" / "corpus-v2" / "manifest.jsonl"
VOICES_WPM = 170  # corpus-v2 speaks at 140, 170 and 200 words a minute: 170 is its normal rate
INTERLUDE_S = (3.0, 8.0)  # music or noise between talk ...
TALK_S = (30.0, 60.0)  # ... every this much talk
BUILD = {REAL: "make real-speech", VOICES: "make corpus-v2"}


@dataclass(frozen=True)
class Programme:
    source: Path  # the manifest its clips come from
    seconds: float  # at least this long (the clip that crosses it is the last)
    part: int  # which disjoint share of the shuffled clips (real-speech: 0, 1, 2)
    interludes: bool = False  # music / noise between talk
    filter: dict | None = None  # manifest fields the clips must have


PROGRAMMES = {
    "real-5min-a": Programme(REAL, 300.0, 0),
    "real-5min-b": Programme(REAL, 300.0, 1),
    "real-10min": Programme(REAL, 600.0, 2),
    "voices-5min": Programme(VOICES, 300.0, 0, filter={"speed": VOICES_WPM}),
    "real-music-5min": Programme(REAL, 300.0, 3, interludes=True),
}


def _dither(audio: np.ndarray, rng) -> np.ndarray:
    """Triangular dither of one 16-bit step: what writing the file to 16 bits adds."""
    step = 1.0 / 32768
    return audio + step * (rng.random(len(audio)) - rng.random(len(audio))).astype(np.float32)


def _gain(audio: np.ndarray, rng) -> np.ndarray:
    return audio * np.float32(10 ** (0.1 / 20))


PERTURBATIONS = {"dither": _dither, "gain+0.1dB": _gain}
COPIES = ("clean", *PERTURBATIONS)


def perturbed(clip: Clip, copy: str) -> Clip:
    """``clip`` as it is (``clean``) or with one of ``PERTURBATIONS`` (seeded)."""
    if copy == "clean":
        return clip
    if copy not in PERTURBATIONS:
        raise ValueError(f"Unknown copy {copy!r}; pick one of {', '.join(COPIES)}.")
    audio = PERTURBATIONS[copy](clip.audio, np.random.default_rng(SEED))
    return Clip(f"{clip.name}~{copy}", audio.astype(np.float32), clip.reference, clip.source)


def _rows(programme: Programme) -> list[dict]:
    """The manifest rows this programme may use, in a seeded order: programmes without
    interludes take consecutive, disjoint shares of one order (by ``part``); the one with
    interludes has an order of its own."""
    from demo.errors import DemoError

    if not programme.source.is_file():
        build = BUILD.get(programme.source, "make real-speech")
        raise DemoError(
            f"No {programme.source}: the long-form programmes are built from it; "
            f"run `{build}` first."
        )
    rows = manifest_rows(programme.source, "test")
    rows = [r for r in rows if all(r.get(k) == v for k, v in (programme.filter or {}).items())]
    order = np.random.default_rng(SEED + programme.interludes).permutation(len(rows))
    if programme.interludes:
        return [rows[i] for i in order]
    before = sum(p.seconds for p in PROGRAMMES.values() if p.source == programme.source
                 and not p.interludes and p.part < programme.part)  # fmt: skip
    at, out = 0.0, []
    for i in order:  # an earlier share ends where its clips and shortest pauses fill it
        if at >= before:
            out.append(rows[i])
        at += rows[i]["seconds"] + PAUSE_S[0]
    return out


def _interlude(rng, seconds: float) -> np.ndarray:
    from bench.silence_clips import applause, coloured_noise, music

    kind = rng.integers(4)
    n = int(seconds * SAMPLE_RATE)
    if kind == 0:
        return music(rng, seconds, 0.15, chords=False)[:n]
    if kind == 1:
        return music(rng, seconds, 0.15, chords=True)[:n]
    if kind == 2:
        return coloured_noise(rng, n, 1, 0.1)
    return applause(rng, seconds, 0.2)


def build(name: str) -> tuple[np.ndarray, str, list[dict]]:
    """``name``'s audio, reference and layout (each piece: start, end, text or interlude)."""
    if name not in PROGRAMMES:
        raise ValueError(f"Unknown programme {name!r}; pick one of {', '.join(PROGRAMMES)}.")
    programme = PROGRAMMES[name]
    rng = np.random.default_rng([SEED, list(PROGRAMMES).index(name)])
    parts, layout, texts, at = [], [], [], 0.0
    talk_until = rng.uniform(*TALK_S)
    for row in _rows(programme):
        if at >= programme.seconds:
            break
        if programme.interludes and at >= talk_until:
            piece = _interlude(rng, rng.uniform(*INTERLUDE_S))
            layout.append({"start": round(at, 2), "end": round(at + len(piece) / SAMPLE_RATE, 2),
                           "text": None})  # fmt: skip
            parts.append(piece)
            at += len(piece) / SAMPLE_RATE
            talk_until = at + rng.uniform(*TALK_S)
        audio = load_audio(row["audio"], max_seconds=None)
        layout.append({"start": round(at, 2), "end": round(at + len(audio) / SAMPLE_RATE, 2),
                       "text": row["text"], "clip": Path(row["audio"]).name})  # fmt: skip
        pause = np.zeros(int(rng.uniform(*PAUSE_S) * SAMPLE_RATE), dtype=np.float32)
        parts += [audio, pause]
        texts.append(row["text"].strip())
        at += (len(audio) + len(pause)) / SAMPLE_RATE
    audio = np.concatenate(parts)
    audio = audio + rng.normal(0, FLOOR, len(audio)).astype(np.float32)
    return np.clip(audio, -1, 1).astype(np.float32), " ".join(texts), layout


def programme_clip(name: str, folder: Path | None = None) -> Clip:
    """One programme, built once into ``folder`` (the cache) and read from there after."""
    folder = folder or settings().cache_dir / "bench" / "programmes"
    wav, meta = folder / f"{name}-{SEED}.wav", folder / f"{name}-{SEED}.json"
    if not (wav.is_file() and meta.is_file()):
        audio, reference, layout = build(name)
        folder.mkdir(parents=True, exist_ok=True)
        write_wav(wav, audio)
        meta.write_text(json.dumps({"reference": reference, "layout": layout}), encoding="utf-8")
    reference = json.loads(meta.read_text(encoding="utf-8"))["reference"]
    source = f"bench/programmes.py {name} (seed {SEED}, {PROGRAMMES[name].source.parent.name})"
    return Clip(name, load_audio(wav, max_seconds=None), reference, source)


ALL_CLIPS = (*CLIPS, *PROGRAMMES)  # what a speed or long-form bench can be run on


def any_clip(name: str) -> Clip:
    """A programme (``PROGRAMMES``) or one of ``bench.clips``' clips, by name."""
    return programme_clip(name) if name in PROGRAMMES else load_clip(name)


def layout(name: str, folder: Path | None = None) -> list[dict]:
    """Where each utterance (and interlude) of a built programme lies."""
    folder = folder or settings().cache_dir / "bench" / "programmes"
    programme_clip(name, folder)
    return json.loads((folder / f"{name}-{SEED}.json").read_text(encoding="utf-8"))["layout"]

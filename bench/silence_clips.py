"""Clips with known answers for transcripts: no speech at all, and speech at known times.

- ``no_speech_clips()``: ten clips in which nobody speaks (silence with mains hum, white, pink
  and brown noise, music-like tones and chords, applause-like bursts, a room tone, a ticking
  clock), 8-45 s; every word a mode writes on them is invented.
- ``known_segments_clip(gaps)``: pieces of the real JFK recording (tests/data/jfk.flac) joined
  with silences of known lengths, so the true start and end of every spoken phrase is known:
  the ground truth for segment and subtitle times.

Everything is made from a fixed seed: the same clip on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.audio import SAMPLE_RATE, load_audio

SEED = 35
FLOOR = 0.008  # room noise under the silences (about -42 dBFS): jfk.flac's own level
# Where the voice is in jfk.flac (seconds; 20 ms frame energy over -30 dBFS, checked by ear):
# "And so my fellow Americans" | "ask not what your country can do for you" | "ask what you
# can do for your country". The cuts below fall in the pauses between them.
JFK_PHRASES = ((0.32, 2.12), (3.28, 7.52), (8.18, 10.36))
JFK_PIECES = {"all": (0.0, 10.7), "first": (0.0, 2.6), "last": (7.8, 10.7)}


@dataclass(frozen=True)
class KnownClip:
    audio: np.ndarray  # 16 kHz mono float32
    phrases: list[tuple[float, float]]  # true (start, end) of every spoken phrase, seconds
    pieces: list[tuple[float, float]]  # (first start, last end) of each piece of speech
    text: str  # what is said, in order


def _tone(freq: float, seconds: float, amp: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def coloured_noise(rng, n: int, exponent: float, amp: float) -> np.ndarray:
    """Noise with a 1/f**exponent power spectrum (0 white, 1 pink, 2 brown), peak ``amp``."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return (amp * noise / np.abs(noise).max()).astype(np.float32)


def music(rng, seconds: float, amp: float, chords: bool) -> np.ndarray:
    """Notes of a pentatonic scale (or three-note chords) with a soft attack and decay."""
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    note_s = 0.5 if chords else 0.25
    out = []
    for _ in range(int(seconds / note_s)):
        t = np.arange(int(note_s * SAMPLE_RATE)) / SAMPLE_RATE
        picks = rng.choice(len(scale) - 4, 1)[0] + np.array([0, 2, 4] if chords else [0])
        note = sum(np.sin(2 * np.pi * scale[p] * t) for p in picks) / len(picks)
        out.append(note * np.minimum(1.0, t / 0.02) * np.exp(-3 * t))
    return (amp * np.concatenate(out)).astype(np.float32)


def applause(rng, seconds: float, amp: float) -> np.ndarray:
    """Many short claps (decaying noise bursts) at random times over a noise bed."""
    n = int(seconds * SAMPLE_RATE)
    out = rng.normal(0, amp * 0.1, n)
    clap = int(0.03 * SAMPLE_RATE)
    envelope = np.exp(-np.arange(clap) / (0.005 * SAMPLE_RATE))
    for at in rng.integers(0, n - clap, int(seconds * 40)):
        out[at : at + clap] += rng.normal(0, amp * 0.3, clap) * envelope
    return np.clip(out, -1, 1).astype(np.float32)


def _ticks(rng, seconds: float) -> np.ndarray:
    out = rng.normal(0, FLOOR, int(seconds * SAMPLE_RATE))
    tick = np.exp(-np.arange(160) / 20.0) * np.sin(np.arange(160) * 1.3)
    for at in range(0, len(out) - 160, SAMPLE_RATE):
        out[at : at + 160] += 0.3 * tick
    return out.astype(np.float32)


def no_speech_clips() -> dict[str, np.ndarray]:
    """Ten clips without speech, by name (see the module docstring)."""
    rng = np.random.default_rng(SEED)
    n = int(20 * SAMPLE_RATE)

    def floor(seconds: float) -> np.ndarray:
        return rng.normal(0, FLOOR, int(seconds * SAMPLE_RATE)).astype(np.float32)

    return {
        "silence": floor(10),
        "hum-50hz": _tone(50, 20, 0.05) + _tone(150, 20, 0.01) + floor(20),
        "white-noise": coloured_noise(rng, n, 0, 0.3),
        "pink-noise": coloured_noise(rng, n, 1, 0.3),
        "brown-noise": coloured_noise(rng, n, 2, 0.3),
        "music-notes": music(rng, 20, 0.3, chords=False),
        "music-chords-long": music(rng, 45, 0.3, chords=True),
        "applause": applause(rng, 15, 0.5),
        "room-tone": coloured_noise(rng, int(8 * SAMPLE_RATE), 1, 0.02),
        "clock-ticks": _ticks(rng, 12),
    }


def known_segments_clip(gaps: tuple[float, ...] = (1.0, 3.0, 4.0, 1.5), jfk_path=None) -> KnownClip:
    """jfk.flac's whole speech, its last phrase and its first phrase, with silences of
    ``gaps`` seconds before, between and after them (four gaps)."""
    from bench.clips import DATA, JFK_TEXT

    if len(gaps) != 4:
        raise ValueError("known_segments_clip takes four gaps: before, two between, after.")
    rng = np.random.default_rng(SEED)
    jfk = load_audio(str(jfk_path or DATA / "jfk.flac"))
    order = ("all", "last", "first")
    words = {"all": JFK_TEXT, "last": "ask what you can do for your country.",
             "first": "And so my fellow Americans,"}  # fmt: skip
    parts, phrases, pieces, at = [], [], [], 0.0
    for gap, name in zip(gaps, order, strict=False):
        parts.append(rng.normal(0, FLOOR, int(gap * SAMPLE_RATE)).astype(np.float32))
        at += gap
        a, b = JFK_PIECES[name]
        parts.append(jfk[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)])
        inside = [(at + s - a, at + e - a) for s, e in JFK_PHRASES if a <= s and e <= b]
        phrases += inside
        pieces.append((inside[0][0], inside[-1][1]))
        at += b - a
    parts.append(rng.normal(0, FLOOR, int(gaps[-1] * SAMPLE_RATE)).astype(np.float32))
    text = " ".join(words[name] for name in order)
    return KnownClip(np.concatenate(parts), phrases, pieces, text)

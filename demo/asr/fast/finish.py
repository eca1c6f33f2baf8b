"""Finishing a window Whisper would leave early: decode on while its audio still holds speech.

Decoding with timestamps, Whisper may close a segment and end the window seconds before the
speech in it ends (it does near a full window's end, and on some chunks of long audio): the
words after its last timestamp are lost. openai/whisper seeks to that timestamp and decodes
a new window from there, which costs another encoder pass. Here the window is decoded on in
the same pass: end-of-text is not allowed before a timestamp near where the speech stops
(frame energy, ``eos_floor``; the rule lives with the others in ``demo.asr.fast.rules``),
and only where Whisper is sure the window holds speech. Over silence the window ends where
Whisper ends it.

The floor does not catch everything on chunked long-form (issue 37): a window whose no-speech
probability lifts it, a last utterance shorter than ``MIN_REST_S``, a passage in the middle
that the timestamps jump over, a chunk decoded to nothing. ``lost_speech`` finds, after the
fact, the utterances (speech between pauses) that no segment with words covers, for the
chunked path to decode again on their own (``demo.asr.fast.chunked``).
"""

from __future__ import annotations

import numpy as np

from demo.asr.energy import FRAME, frame_db, runs, silent_frames
from demo.asr.segments import MIN_SPEECH_S, TIME_PRECISION, close_gaps, first_timestamp
from demo.audio import SAMPLE_RATE

MIN_REST_S = 1.5  # less speech than this after the last timestamp: finished (its timestamps are
# coarse: an end-of-phrase timestamp 0.5-1 s early is common, a lost phrase runs seconds)
MAX_NO_SPEECH = 0.2  # real speech windows stay under 0.1 (bench.no_speech), noise over 0.5


def speech_frames(audio: np.ndarray) -> np.ndarray | None:
    """Which 20 ms frames of the clip hold speech (louder than its quiet parts, for at least
    ``MIN_SPEECH_S``); None for a clip with no quiet part (music, noise), where energy can't
    tell."""

    if len(audio) < FRAME:
        return None

    speech = ~silent_frames(frame_db(audio))
    if speech.all():
        return None
    # a click or the tail of a breath is not speech still to be written
    return ~close_gaps(~speech, int(MIN_SPEECH_S * SAMPLE_RATE / FRAME))


def speech_end(speech: np.ndarray | None, start: int, end: int) -> float | None:
    """Seconds from ``start`` (a sample) to the end of the last speech frame before ``end``,
    by ``speech`` (``speech_frames``); None without speech or without ``speech``."""
    if speech is None:
        return None
    frames = np.flatnonzero(speech[start // FRAME : end // FRAME])
    return None if not len(frames) else (frames[-1] + 1) * FRAME / SAMPLE_RATE


def eos_floor(generation_config, spoken_until: float | None) -> int:
    """The smallest timestamp token after which a window may end, for a window whose speech
    stops ``spoken_until`` seconds in (``speech_end``); 0 (no floor) without one, or where
    less than ``MIN_REST_S`` of speech could follow any timestamp."""
    if spoken_until is None or spoken_until <= MIN_REST_S:
        return 0
    return first_timestamp(generation_config) + int((spoken_until - MIN_REST_S) / TIME_PRECISION)


MIN_LOST_S = 0.4  # an utterance (speech between pauses) at least this long ...
MAX_COVERED = 0.25  # ... with at most this share of it inside the segments decoded: lost
MERGE_S = 1.0  # lost utterances this close together are decoded again as one span
PAD_S = 0.1  # silence kept either side of a lost span (no further than halfway to the next)


def utterances(speech: np.ndarray, pause_frames: int) -> list[tuple[int, int]]:
    """``(first, end)`` frames of each run of speech, pauses shorter than ``pause_frames``
    bridged."""
    return runs(close_gaps(speech, pause_frames - 1))


def lost_speech(
    speech: np.ndarray | None,
    covered: list[tuple[float, float]],
    pause_frames: int,
    total: int,
    max_samples: int,
) -> list[tuple[int, int]]:
    """Sample spans (of at most ``max_samples``, within ``total`` samples) of the utterances
    in ``speech`` (``speech_frames``) that the ``covered`` (start, end) seconds (the segments
    with words) leave out: what a chunked decoding lost, where Whisper's timestamps skipped
    over a passage, ended its window early or the whole chunk came back empty."""
    if speech is None:
        return []
    seconds = FRAME / SAMPLE_RATE
    inside = np.zeros(len(speech), dtype=bool)
    for start, end in covered:
        inside[max(0, int(start / seconds)) : max(0, int(np.ceil(end / seconds)))] = True
    runs = utterances(speech, pause_frames)
    lost = [(a, b) for a, b in runs if (b - a) * seconds >= MIN_LOST_S
            and inside[a:b].sum() <= MAX_COVERED * (b - a)]  # fmt: skip
    spans: list[list[int]] = []
    for a, b in lost:
        if (
            spans
            and (a - spans[-1][1]) * seconds < MERGE_S
            and (b - spans[-1][0]) * FRAME < (max_samples - 2 * PAD_S * SAMPLE_RATE)
        ):
            spans[-1][1] = b
        else:
            spans.append([a, b])
    starts = [a for a, _ in runs]
    ends = [b for _, b in runs]
    out = []
    pad = int(PAD_S / seconds)
    for a, b in spans:
        before = max((e for e in ends if e <= a), default=0)
        after = min((s for s in starts if s >= b), default=len(speech))
        a = max(a - pad, (a + before) // 2)
        b = min(b + pad, (b + after + 1) // 2)
        a, b = a * FRAME, min(total, b * FRAME)
        out += [(x, min(b, x + max_samples)) for x in range(a, b, max_samples)]
    return out

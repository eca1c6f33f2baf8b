"""Segments with times from Whisper's timestamp tokens, and the no-speech gate.

Whisper decoding with timestamps writes ``<|t0|> text <|t1|><|t1|> text <|t2|>``: each pair of
timestamp tokens closes one segment and opens the next (openai/whisper ``transcribe``). The
times are relative to the window decoded; ``window_segments`` adds the window's offset.

The gate follows openai/whisper: a window whose ``<|nospeech|>`` probability (read at the
``<|startoftranscript|>`` position) is over ``NO_SPEECH_THRESHOLD`` *and* whose tokens have an
average log-probability under ``LOGPROB_THRESHOLD`` is silence; its words are dropped.
openai/whisper's 0.6 kept "Thank you." over a music clip (0.57, log-probability -1.26,
bench.no_speech); 0.5 drops it, and no real speech clip came near (at most 0.18 on 149 clips
of the real-speech set, tiny.en fast-int8).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

import numpy as np

from demo.asr.energy import FRAME, frame_db, runs, silent_frames

TIME_PRECISION = 0.02  # seconds per timestamp token
NO_SPEECH_THRESHOLD = 0.5  # openai/whisper transcribe's default is 0.6 (see above)
LOGPROB_THRESHOLD = -1.0  # openai/whisper transcribe's default
COMPRESSION_RATIO_THRESHOLD = 2.4  # over this the text repeats itself (openai/whisper)


@dataclass
class Word:
    start: float  # seconds from the start of the clip
    end: float
    text: str  # with its leading space, as Whisper writes it
    probability: float | None = None


@dataclass
class Segment:
    start: float  # seconds from the start of the clip
    end: float
    text: str
    words: list[Word] | None = None  # when word times were asked for


@dataclass
class TokenSegment:
    """A segment before its tokens are turned into text (the engines have no tokenizer)."""

    start: float
    end: float
    tokens: list[int]
    window: int = 0  # which decoded window it came from (word alignment needs it)


@dataclass
class WindowScores:
    """What openai/whisper's gate looks at, per decoded window."""

    avg_logprob: float  # mean log-probability of the tokens decoded (end-of-text included)
    no_speech_prob: float  # probability of <|nospeech|> at the start-of-transcript position
    extra: dict = field(default_factory=dict)

    def silent(self) -> bool:
        return self.no_speech_prob > NO_SPEECH_THRESHOLD and self.avg_logprob < LOGPROB_THRESHOLD


def window_segments(
    tokens: list[int], timestamp_begin: int, offset: float, end: float, window: int = 0
) -> list[TokenSegment]:
    """The segments of one window's tokens (timestamps relative to the window).

    ``offset`` is where the window starts in the clip and ``end`` where its audio ends (both
    seconds): text after the last timestamp, or a window decoded without any, ends there.
    Times are clamped to ``[offset, end]``: Whisper may put a timestamp past the audio.
    """
    segments: list[TokenSegment] = []
    start: float | None = None
    text: list[int] = []
    for token in tokens:
        if token >= timestamp_begin:
            time = offset + (token - timestamp_begin) * TIME_PRECISION
            if text:
                segments.append(TokenSegment(start if start is not None else offset, time, text))
                text = []
            start = time
        else:
            text.append(token)
    if text:
        segments.append(TokenSegment(start if start is not None else offset, end, text))
    for segment in segments:
        segment.start = min(max(segment.start, offset), end)
        segment.end = min(max(segment.end, segment.start), end)
        segment.window = window
    return segments


def compression_ratio(text: str) -> float:
    """Bytes of ``text`` over bytes gzipped: high for text that repeats (openai/whisper)."""
    data = text.encode("utf-8")
    return len(data) / len(gzip.compress(data)) if data else 0.0


def text_tokens(tokens: list[int], timestamp_begin: int) -> list[int]:
    """``tokens`` without timestamp tokens."""
    return [t for t in tokens if t < timestamp_begin]


def first_timestamp(generation_config) -> int:
    """``<|0.00|>``, the first timestamp token: just after ``<|notimestamps|>`` in every
    Whisper vocabulary; every token from it on is a timestamp."""
    return int(generation_config.no_timestamps_token_id) + 1


def no_speech_token(generation_config) -> int:
    """``<|nospeech|>`` (``<|nocaptions|>`` in older vocabularies): just before
    ``<|notimestamps|>`` in every Whisper vocabulary (transformers' WhisperNoSpeechDetection)."""
    return int(generation_config.no_timestamps_token_id) - 1


MAX_GAP_S = 0.3  # quiet this short inside speech is a stop consonant or a breath, not a pause
MIN_SPEECH_S = 0.2  # louder than silence for less than this is a click, not a word
EDGE_S = 0.3  # how far Whisper's segment edge may sit on the wrong side of a speech onset
PAUSE_S = 1.0  # ... or how long a pause may part that speech from the segment's own words


def snap_to_speech(segments: list[Segment], audio, sample_rate: int) -> list[Segment]:
    """Segments whose edges sit on where the speech starts and stops.

    Whisper's segment timestamps come in coarse steps and tend to include the silence around
    the words (a segment may open a second before the voice). Measured on frame energy
    (``demo.asr.energy``'s 20 ms frames, silence judged against the clip's own levels):
    a start in silence moves on to the first speech inside the segment, a start in the middle
    of speech moves back to where that speech began (not before the previous segment's end),
    and the same for ends. A clip with no quiet part (music, noise) is left as it is.
    """
    if not segments or len(audio) < FRAME:
        return segments
    speech = ~silent_frames(frame_db(audio))
    if speech.all() or not speech.any():
        return segments
    speech = close_gaps(speech, int(MAX_GAP_S * sample_rate / FRAME))
    speech = ~close_gaps(~speech, int(MIN_SPEECH_S * sample_rate / FRAME))
    step = FRAME / sample_rate
    count = len(speech)
    out = []
    for i, segment in enumerate(segments):
        low = out[-1].end if out else 0.0
        high = segments[i + 1].start if i + 1 < len(segments) else count * step
        a = min(count - 1, int(segment.start / step))
        b = max(a + 1, min(count, int(np.ceil(segment.end / step))))
        inside = np.flatnonzero(speech[a:b])
        if not len(inside):
            out.append(segment)
            continue
        first, last = a + inside[0], a + inside[-1]
        edge, pause = int(EDGE_S / step), int(PAUSE_S / step)
        # Speech that crosses the segment's edge and starts (or stops) just inside it, or after
        # (before) a pause inside it, belongs to the next (previous) segment: Whisper's edge is
        # a little late (early), or (seen with the int8 engines on one CPU) a phrase late.
        if last == b - 1 and b < count and speech[b] and last - first > edge:
            run = last
            while run > first and speech[run - 1]:
                run -= 1
            if run > first:
                before = first + int(np.flatnonzero(speech[first:run])[-1])
                if run >= b - edge or run - before > pause:
                    last = before
        if first == a and a > 0 and speech[a - 1] and last - first > edge:
            run = first
            while run < last and speech[run + 1]:
                run += 1
            if run < last:
                after = run + 1 + int(np.flatnonzero(speech[run + 1 : last + 1])[0])
                if run < a + edge or after - run > pause:
                    first = after
        if first == a:  # starts in speech: back to where it began
            while first > 0 and speech[first - 1] and (first - 1) * step >= low:
                first -= 1
        if last == b - 1:  # ends in speech: on to where it stops
            while last + 1 < count and speech[last + 1] and (last + 2) * step <= high:
                last += 1
        start, end = max(low, first * step), (last + 1) * step
        start, end = round(float(start), 3), round(float(max(end, start)), 3)
        out.append(Segment(start, end, segment.text, _words_within(segment.words, start, end)))
    return out


def close_gaps(speech, max_gap: int):
    """``speech`` with runs of at most ``max_gap`` quiet frames between speech filled in."""
    speech = speech.copy()
    for a, b in runs(~speech):
        if 0 < a and b < len(speech) and b - a <= max_gap:
            speech[a:b] = True
    return speech


def _words_within(words: list[Word] | None, start: float, end: float) -> list[Word] | None:
    """Words moved inside their segment's new edges."""
    if not words:
        return words
    for word in words:
        word.start = min(max(word.start, start), end)
        word.end = min(max(word.end, word.start), end)
    return words

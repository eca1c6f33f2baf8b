"""What the fast engine hands back for a clip: its tokens with timestamps, segments with times,
each window's scores for the no-speech gate, and (asked for) the words with their times."""

from __future__ import annotations

from dataclasses import dataclass, field

from demo.asr.fast.align import align_window
from demo.asr.fast.decoding import Decoded, no_speech_prob
from demo.asr.fast.model import FastWhisper
from demo.asr.segments import Segment, TokenSegment, WindowScores


@dataclass
class FastResult:
    # text and timestamp tokens, prompts and end-of-text removed (chunked with speech decoded
    # again, ``recovered``: the segments' text tokens in time order, no timestamps)
    tokens: list[int]
    language: str | None  # ISO code used (detected or given); None for English-only models
    detected: bool
    windows: int  # 30 s windows (sequential) or chunks (chunked) decoded
    long_form: str | None = None  # the long-form algorithm used; None for one window
    segments: list[TokenSegment] = field(default_factory=list)  # absolute times
    scores: list[WindowScores] = field(default_factory=list)  # per window decoded
    silent: int = 0  # windows the no-speech gate dropped
    recovered: int = 0  # chunked: spans of lost speech decoded again and kept (finish.py)
    # With word times asked for (``words``): the segments with their text and words
    text_segments: list[Segment] | None = None

    def add(self, fast, encoded, task, segments, window, words) -> None:
        """Add one window's segments; with ``words`` (a token decoder), also their words."""
        self.segments += segments
        if words is not None:
            found = align_window(fast, encoded, self.language, task, segments, window, words)
            self.text_segments = (self.text_segments or []) + found


def window_scores(fast: FastWhisper, decoded: Decoded) -> WindowScores:
    return WindowScores(decoded.avg_logprob, no_speech_prob(fast, decoded))

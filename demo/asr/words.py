"""Word times from cross-attention: dynamic time warping over Whisper's alignment heads.

openai/whisper ``timing.py``'s method: decode, then run the decoder once more over the text
tokens and read the cross-attention weights of the heads the model's config lists as
``alignment_heads``; normalise each head over the tokens, median-filter along time, average
the heads, and find the monotonic path through (token, audio frame) with the highest total
weight (DTW). The frame where the path reaches a word's first token is the word's start; the
next word's start is its end. Engines supply the attention (``demo.asr.fast.align``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.asr.segments import Segment, TokenSegment, Word

FRAMES_PER_SECOND = 50  # encoder positions per second of audio (20 ms each)
MEDIAN_WIDTH = 7  # openai/whisper's filter width
PUNCTUATION = "\"'“¿([{-.。,，!！?？:：”)]}、"


@dataclass
class AlignedWord:
    tokens: list[int]
    start: float
    end: float


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cheapest monotonic path through ``cost`` [tokens, frames]: (token, frame) indices.

    Steps go one frame on, one token on, or both (openai/whisper ``dtw_cpu``). The table is
    filled one anti-diagonal at a time, so numpy does the inner loop.
    """
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    choice = np.zeros((n + 1, m + 1), dtype=np.int8)
    for d in range(2, n + m + 1):
        i = np.arange(max(1, d - m), min(n, d - 1) + 1)
        j = d - i
        options = np.stack([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
        best = options.argmin(0)
        total[i, j] = cost[i - 1, j - 1] + options[best, np.arange(len(i))]
        choice[i, j] = best
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        c = choice[i, j]
        i, j = (i - 1, j - 1) if c == 0 else (i - 1, j) if c == 1 else (i, j - 1)
    path.reverse()
    tokens, frames = zip(*path, strict=True) if path else ((), ())
    return np.array(tokens), np.array(frames)


def _median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median over ``width`` frames along the last axis (edges mirrored)."""
    from scipy.ndimage import median_filter

    return median_filter(x, size=(1,) * (x.ndim - 1) + (width,), mode="reflect")


def align(weights: np.ndarray, word_tokens: list[list[int]], frames: int) -> list[AlignedWord]:
    """Word times (seconds in the window) from the alignment heads' cross-attention
    ``weights`` [heads, words' tokens + end-of-text, 1500] over the first ``frames`` frames."""
    w = weights[:, :, :frames]
    w = (w - w.mean(axis=-2, keepdims=True)) / (w.std(axis=-2, keepdims=True) + 1e-6)
    matrix = _median_filter(w, MEDIAN_WIDTH).mean(0)
    token_index, frame_index = dtw(-matrix)
    jumps = np.pad(np.diff(token_index), (1, 0), constant_values=1).astype(bool)
    times = frame_index[jumps] / FRAMES_PER_SECOND  # when each token (and end-of-text) starts
    bounds = np.cumsum([0] + [len(t) for t in word_tokens])
    out = []
    for tokens, a, b in zip(word_tokens, bounds[:-1], bounds[1:], strict=True):
        out.append(AlignedWord(tokens, float(times[min(a, len(times) - 1)]),
                               float(times[min(b, len(times) - 1)])))  # fmt: skip
    return out


def split_words(tokens: list[int], decode) -> list[list[int]]:
    """Text tokens grouped into words: a token that starts with a space opens a word, and
    punctuation stays with the word before it (English and other spaced scripts)."""
    words: list[list[int]] = []
    for token in tokens:
        text = decode([token])
        opens = text.startswith(" ") and text.strip() not in PUNCTUATION
        if opens or not words:
            words.append([token])
        else:
            words[-1].append(token)
    return words


def _clamp_edges(words: list[Word], max_duration: float) -> None:
    """A segment's first word may start in the silence before it and its last word end in
    the silence after it (the attention has nothing else to point at): cut them to
    ``max_duration`` (openai/whisper's heuristic, twice the median word, at most 1.4 s)."""
    first, last = words[0], words[-1]
    if first.end - first.start > max_duration:
        first.start = round(first.end - max_duration, 3)
    if last.end - last.start > max_duration:
        last.end = round(last.start + max_duration, 3)


def words_to_segments(
    segments: list[TokenSegment], aligned: list[AlignedWord], offset: float, end: float, decode
) -> list[Segment]:
    """Text segments of one window, each with its words (times in the clip) and its edges
    set by its first and last word; ``aligned`` covers the segments' tokens in order."""
    durations = [w.end - w.start for w in aligned if w.end > w.start]
    max_duration = 2 * min(0.7, float(np.median(durations))) if durations else 1.4
    out, k = [], 0
    for segment in segments:
        count, words = 0, []
        while k < len(aligned) and count < len(segment.tokens):
            word = aligned[k]
            start = min(offset + word.start, end)
            words.append(Word(round(start, 3), round(min(max(offset + word.end, start), end), 3),
                              decode(word.tokens)))  # fmt: skip
            count += len(word.tokens)
            k += 1
        text = decode(segment.tokens).strip()
        if not text:
            continue
        if words:
            _clamp_edges(words, max_duration)
            out.append(Segment(words[0].start, words[-1].end, text, words))
        else:
            out.append(Segment(round(segment.start, 3), round(segment.end, 3), text))
    return out

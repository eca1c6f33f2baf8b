"""Chunked long-form: cut long audio at silences, encode and decode the chunks as batches.

The sequential long-form algorithm (``transcribe._long_form``) must finish a window before it
knows where the next one starts (its last timestamp), so windows are decoded one after the
other. Cut where nobody speaks instead, and every chunk is known up front: they are encoded
together and decoded together, the int8 decoder doing one step for the whole batch at about
the cost of one sequence (its weights are read once per step either way). This is what
faster-whisper's ``BatchedInferencePipeline`` does with the Silero VAD; here the voice activity
is plain frame energy (numpy), which is enough to find the pauses between sentences.

Decoded on their own, chunks of many short utterances (prompts, a conversation) sometimes
come back with an utterance missing: the chunk ended before its last one, or the timestamps
jumped over a passage (issue 37; ``bench.longform`` measures it). A second pass decodes each
utterance that no segment covers again, alone (``demo.asr.fast.finish.lost_speech``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.asr.energy import FRAME, frame_db, runs, silent_frames
from demo.asr.fast.batched import log_mel_batch
from demo.asr.fast.decoding import decode_scored, detect_language, prompt_tokens
from demo.asr.fast.features import WINDOW_SAMPLES
from demo.asr.fast.finish import lost_speech, speech_end, speech_frames
from demo.asr.fast.model import FastWhisper
from demo.asr.fast.result import FastResult, window_scores
from demo.asr.fast.rules import timestamp_rules
from demo.asr.segments import (
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    WindowScores,
    first_timestamp,
    window_segments,
)
from demo.audio import SAMPLE_RATE
from demo.cancel import check

MIN_SILENCE_S = 0.2  # a pause at least this long is a cut point
MIN_CHUNK_S = 5.0  # never cut a chunk shorter than this when a later pause exists
BATCH = 8  # chunks encoded and decoded together


def speech_chunks(audio: np.ndarray, max_samples: int = WINDOW_SAMPLES) -> list[tuple[int, int]]:
    """``(start, end)`` sample spans of at most ``max_samples`` covering the audio, cut in the
    middle of the latest pause that fits; chunks that are silence throughout are left out."""
    if len(audio) <= max_samples:
        return [(0, len(audio))]
    db = frame_db(audio)
    silent = silent_frames(db)
    pauses = _pauses(silent, int(MIN_SILENCE_S * SAMPLE_RATE / FRAME))
    chunks, start = [], 0
    while len(audio) - start > max_samples:
        limit = start + max_samples
        lowest = start + int(MIN_CHUNK_S * SAMPLE_RATE)
        cuts = [c for c in pauses if lowest <= c <= limit]
        if cuts:
            cut = cuts[-1]
        else:  # no pause: cut at the quietest frame of the chunk's last third
            first = (start + 2 * max_samples // 3) // FRAME
            last = max(first + 1, limit // FRAME)
            cut = (first + int(np.argmin(db[first:last]))) * FRAME
        chunks.append((start, cut))
        start = cut
    chunks.append((start, len(audio)))
    return [
        (a, b) for a, b in chunks if not silent[a // FRAME : max(a // FRAME + 1, b // FRAME)].all()
    ]


def _pauses(silent: np.ndarray, min_frames: int) -> list[int]:
    """Sample positions of the middles of runs of at least ``min_frames`` silent frames."""
    return [(a + b) // 2 * FRAME for a, b in runs(silent) if b - a >= min_frames]


def transcribe_chunked(
    fast: FastWhisper,
    mel_filters: np.ndarray,
    audio: np.ndarray,
    *,
    language: str | None,
    task: str,
    num_beams: int,
    batch: int = BATCH,
    gate: bool = True,
    words=None,
    timestamps: bool = True,
):
    """Long audio, chunked: a ``FastResult`` (tokens, language, whether it was detected, chunk
    count, segments with times in the clip, each chunk's scores for the no-speech gate).

    With timestamps, a second pass decodes again, each alone, the utterances the chunks'
    segments left out (``demo.asr.fast.finish.lost_speech``); what it finds is kept unless
    Whisper doubts it is speech (``_doubtful``)."""
    from tqdm.auto import tqdm

    spans = speech_chunks(audio)
    speech = speech_frames(audio) if timestamps else None
    result = FastResult([], language, False, len(spans), "chunked")
    pieces: list[tuple[int, list[int]]] = []  # (start sample, tokens) of each span kept
    run = _Run(fast, mel_filters, audio, task, num_beams, batch, words, timestamps, speech)
    with tqdm(total=len(spans), unit="chunk", desc="transcribing", leave=False) as bar:
        result.silent = run.decode(spans, 0, gate and WindowScores.silent, result, pieces, bar)
        if timestamps:
            covered = [(s.start, s.end) for s in result.segments if s.tokens]
            pause = int(MIN_SILENCE_S * SAMPLE_RATE / FRAME)
            lost = lost_speech(speech, covered, pause, len(audio), WINDOW_SAMPLES)
            if lost:
                bar.total += len(lost)
                doubtful = run.decode(lost, len(spans), gate and _doubtful, result, pieces, bar)
                result.recovered = len(lost) - doubtful
    result.segments.sort(key=lambda s: s.start)  # stable: a window's segments keep their order
    if result.recovered:  # speech found again lies inside a chunk's time: text in time order
        result.tokens = [t for segment in result.segments for t in segment.tokens]
    else:
        result.tokens = [t for _, tokens in sorted(pieces, key=lambda p: p[0]) for t in tokens]
    if result.text_segments is not None:
        result.text_segments.sort(key=lambda s: s.start)
    return result


def _doubtful(scores: WindowScores) -> bool:
    """Lost speech decoded again is dropped where Whisper doubts it is speech at all: its
    no-speech probability or its tokens' log-probability alone crosses the gate's threshold
    (a music or noise interlude is louder than the pauses, not speech)."""
    return scores.no_speech_prob > NO_SPEECH_THRESHOLD or scores.avg_logprob < LOGPROB_THRESHOLD


def _closed(tokens: list[int], timestamp_begin: int) -> list[int]:
    """A window's tokens up to its last timestamp. A window that never ends (no end-of-text
    within the decoder's 448 positions) is one whose last segment repeats itself (``Pas-Thor-
    Pas-Thor-...``, on noisy speech): it is left out, and its audio, no longer covered, is
    decoded again alone in the second pass."""
    stamps = [i for i, t in enumerate(tokens) if t >= timestamp_begin]
    return tokens[: stamps[-1] + 1] if stamps else []


@dataclass
class _Run:
    """What every batch of one chunked transcription shares."""

    fast: FastWhisper
    mel_filters: np.ndarray
    audio: np.ndarray
    task: str
    num_beams: int
    batch: int
    words: object  # the tokenizer's decode, for word times; or None
    timestamps: bool
    speech: np.ndarray | None  # speech_frames of the audio

    def decode(self, spans, index, drop, result: FastResult, pieces: list, bar) -> int:
        """Decode ``spans`` (samples) in batches; a span whose scores ``drop`` (a predicate, or
        None) is left out, the others' tokens go to ``pieces`` and segments to ``result``.
        ``index``: the first span's window number. How many spans were dropped."""
        dropped = 0
        fast = self.fast
        multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
        eos = int(fast.generation_config.eos_token_id)
        for first in range(0, len(spans), self.batch):
            batch_spans = spans[first : first + self.batch]
            group = [self.audio[a:b] for a, b in batch_spans]
            encoded = fast.encode(log_mel_batch(group, self.mel_filters))
            if multilingual and result.language is None:
                result.language, result.detected = detect_language(fast, encoded[:1]), True
            prompt = prompt_tokens(fast, result.language, self.task, timestamps=self.timestamps)
            until = [speech_end(self.speech, *span) for span in batch_spans]
            rules = timestamp_rules(fast, len(prompt), self.timestamps, until)
            decoded = decode_scored(fast, encoded, prompt, rules, self.num_beams)
            for row, one in enumerate(decoded):
                result.scores.append(window_scores(fast, one))
                if drop and drop(result.scores[-1]):
                    dropped += 1
                    continue
                tokens = one.tokens[:-1] if one.tokens and one.tokens[-1] == eos else one.tokens
                if self.timestamps and len(tokens) == len(one.tokens):  # out of tokens: a loop
                    tokens = _closed(tokens, first_timestamp(fast.generation_config))
                a, b = batch_spans[row]
                pieces.append((a, tokens))
                window = (a / SAMPLE_RATE, b / SAMPLE_RATE)
                segments = window_segments(
                    tokens, first_timestamp(fast.generation_config), *window, index + first + row
                )
                result.add(fast, encoded[row : row + 1], self.task, segments, window, self.words)
            bar.update(len(group))
            check()
        return dropped

"""Rows of a speech manifest -> the 30 s windows the end-to-end model's feature cache encodes.

A sentence manifest (``manifest.jsonl``) gives one window per clip; an abstract-clip manifest
(``abstracts.jsonl`` of ``make_speech_corpus --abstract-clips``, 60-90 s clips) gives two or
three. Each window is a ``CacheItem`` with a ``span`` of its clip (none for a clip that fits in
one window), so the clip file is read, not copied; the rows are checked the way
``training.data.speech_examples`` checks ASR rows, without its 30 s limit.
"""

from __future__ import annotations

from demo.bridge.e2e import MIN_WINDOW_SECONDS, WINDOW_SECONDS
from demo.bridge.features import CacheItem
from training.data import DataReport, audio_source, check_columns, row_text


def window_items(
    rows: list[tuple[int, dict]], report: DataReport, split: str, config, splits
) -> tuple[list[CacheItem], list[list[str]]]:
    """(cache items, per usable clip the keys of its windows in order)."""
    from demo.audio import duration_seconds, load_audio
    from demo.errors import AudioError

    audio_column, text_column = config.audio_column, config.target_column
    check_columns(rows, [audio_column, text_column], report.source)
    items: list[CacheItem] = []
    clips: list[list[str]] = []
    for number, row in rows:
        text = row_text(row, text_column)
        if not text:
            report.drop(number, "empty text", f"column {text_column!r} has no words", config.strict)
            continue
        audio = audio_source(row.get(audio_column), splits.base_dir)
        if audio is None or (not isinstance(audio, bytes) and not audio.is_file()):
            report.drop(number, "missing audio", str(audio or audio_column), config.strict)
            continue
        source = audio if isinstance(audio, bytes) else str(audio)
        try:
            seconds = duration_seconds(load_audio(source, max_seconds=None))
        except AudioError as exc:
            report.drop(number, "undecodable audio", str(exc).rstrip("."), config.strict)
            continue
        keys = []
        spans = window_spans(seconds)
        for index, (start, end) in enumerate(spans):
            key = f"{split}-{len(clips):06d}-w{index}"
            # A clip that fits one window is the whole clip, as the bridge's cache has it: the
            # two caches then share its features (demo.bridge.features).
            span = None if len(spans) == 1 and end >= seconds else (start, end)
            items.append(CacheItem(key, source, text, split, span))
            keys.append(key)
        clips.append(keys)
    report.kept = len(clips)
    return items, clips


def window_spans(seconds: float, window: float = WINDOW_SECONDS) -> list[tuple[float, float]]:
    """(start, end) of each window of a clip, as ``demo.bridge.e2e.audio_windows`` cuts it."""
    spans, start = [], 0.0
    while start < seconds or not spans:
        spans.append((start, min(start + window, seconds)))
        start += window
    if len(spans) > 1 and spans[-1][1] - spans[-1][0] < MIN_WINDOW_SECONDS:
        spans = spans[:-1]
    return spans

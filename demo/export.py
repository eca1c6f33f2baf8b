"""Transcripts out of the app and the CLI: TXT, SRT, WebVTT and JSON, and a subtitle checker.

``render(result, fmt)`` takes a ``PipelineResult`` (or its ``to_dict()``, the one JSON schema)
and returns the file's text; ``FORMATS`` is the registry (name -> extension, media type,
writer). Subtitles follow what common players expect: cues of at most ``MAX_LINES`` lines of
``MAX_LINE_CHARS`` characters, shown ``MIN_CUE_S``-``MAX_CUE_S`` seconds, in order, never
overlapping. A long segment is cut into cues at word boundaries, with its words' own times
when it has them, else times shared out by characters. ``check_subtitles`` is the validator
the tests use on what the writers produce.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

MAX_LINE_CHARS = 42  # Netflix/BBC English guideline
MAX_LINES = 2
MIN_CUE_S = 0.5  # shorter cues flash by (stretched into the following silence when there is one)
MAX_CUE_S = 7.0
MIN_GAP_S = 0.0  # cues may touch, never overlap


@dataclass(frozen=True)
class Format:
    extension: str
    media_type: str
    write: Callable[[dict], str]


def _as_dict(result) -> dict:
    return result if isinstance(result, dict) else result.to_dict()


def _timestamp(seconds: float, sep: str) -> str:
    ms = max(0, int(round(seconds * 1000)))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _wrap(words: list[str]) -> list[str]:
    lines, line = [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > MAX_LINE_CHARS:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return lines + ([line] if line else [])


def _fits(words: list[str]) -> bool:
    return len(_wrap(words)) <= MAX_LINES and all(len(x) <= MAX_LINE_CHARS for x in words)


def _timed_words(segment: dict) -> list[tuple[str, float, float]]:
    """The segment's words with times: its own, or shared out by characters."""
    if segment.get("words"):
        return [(w["text"].strip(), w["start"], w["end"]) for w in segment["words"]]
    words = segment["text"].split()
    total = sum(len(w) + 1 for w in words) or 1
    span, at, out = segment["end"] - segment["start"], segment["start"], []
    for word in words:
        length = span * (len(word) + 1) / total
        out.append((word, at, at + length))
        at += length
    return out


def _balanced(words: list[tuple[str, float, float]]) -> list[list[tuple[str, float, float]]]:
    """The fewest groups of about equal length that each fit one cue (lines and seconds)."""
    total = sum(len(w[0]) + 1 for w in words)
    for n in range(1, len(words) + 1):
        groups, current, done = [], [], 0
        for word in words:
            if current and done >= total * (len(groups) + 1) / n:
                groups.append(current)
                current = []
            current.append(word)
            done += len(word[0]) + 1
        groups.append(current)
        if all(_fits([w[0] for w in g]) and g[-1][2] - g[0][1] <= MAX_CUE_S for g in groups):
            return groups
    return [[word] for word in words]


def cues(result) -> list[tuple[float, float, list[str]]]:
    """Subtitle cues (start, end, lines) from the result's segments, by the rules above."""
    raw: list[list] = []
    for segment in _as_dict(result).get("segments") or []:
        words = [w for w in _timed_words(segment) if w[0]]
        if words:
            for group in _balanced(words):
                raw.append([group[0][1], group[-1][2], [w[0] for w in group]])
    out = []
    for i, (start, end, words) in enumerate(raw):
        start = max(start, out[-1][1] + MIN_GAP_S) if out else max(0.0, start)
        following = raw[i + 1][0] if i + 1 < len(raw) else None
        end = max(end, start + MIN_CUE_S)  # too short to read: stretch into the pause
        if following is not None:
            end = min(end, max(following, start + 0.001))
        end = min(end, start + MAX_CUE_S)
        out.append((round(start, 3), round(end, 3), _wrap(words)))
    return out


def write_srt(result: dict) -> str:
    blocks = [
        f"{i}\n{_timestamp(a, ',')} --> {_timestamp(b, ',')}\n" + "\n".join(lines)
        for i, (a, b, lines) in enumerate(cues(result), start=1)
    ]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def write_vtt(result: dict) -> str:
    blocks = [
        f"{_timestamp(a, '.')} --> {_timestamp(b, '.')}\n" + "\n".join(lines)
        for a, b, lines in cues(result)
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + ("\n" if blocks else "")


def write_txt(result: dict) -> str:
    """The transcript a segment a line, each with its start time; the summary below it."""
    data = _as_dict(result)
    lines = [
        f"[{_timestamp(s['start'], '.')[:-4]}] {s['text']}" for s in data.get("segments") or []
    ]
    if not lines and data.get("transcript"):
        lines = [data["transcript"]]
    if data.get("summary"):
        lines += ["", "Summary:", data["summary"]]
    return "\n".join(lines) + "\n"


def write_json(result: dict) -> str:
    """Everything the run knows: segments and words, summary, scores, the configuration and
    the versions that made it (``PipelineResult.to_dict``)."""
    return json.dumps(_as_dict(result), indent=2, default=str, ensure_ascii=False) + "\n"


FORMATS: dict[str, Format] = {
    "txt": Format("txt", "text/plain", write_txt),
    "srt": Format("srt", "application/x-subrip", write_srt),
    "vtt": Format("vtt", "text/vtt", write_vtt),
    "json": Format("json", "application/json", write_json),
}


def render(result, fmt: str) -> str:
    """The text of ``result`` (a ``PipelineResult`` or its ``to_dict()``) as ``fmt``."""
    from demo.errors import unknown_choice

    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, list(FORMATS))
    return FORMATS[fmt].write(_as_dict(result))


_TIME = r"(\d{2}):(\d{2}):(\d{2})[,.](\d{3})"
_CUE = re.compile(rf"^{_TIME} --> {_TIME}$")


def _seconds(groups) -> float:
    h, m, s, ms = (int(g) for g in groups)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_subtitles(text: str, fmt: str) -> list[tuple[float, float, list[str]]]:
    """Cues of an SRT or WebVTT file (the subset the writers use)."""
    blocks = [b for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    if fmt == "vtt":
        if not blocks or not blocks[0].startswith("WEBVTT"):
            raise ValueError("a WebVTT file starts with 'WEBVTT'.")
        blocks = blocks[1:]
    out = []
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        if fmt == "srt":
            if lines[0].strip() != str(number):
                raise ValueError(f"cue {number}: its number is {lines[0]!r}.")
            lines = lines[1:]
        match = _CUE.match(lines[0].strip()) if lines else None
        if not match:
            raise ValueError(f"cue {number}: no 'start --> end' line.")
        groups = match.groups()
        out.append((_seconds(groups[:4]), _seconds(groups[4:]), lines[1:]))
    return out


def check_subtitles(text: str, fmt: str) -> list[str]:
    """What is wrong with an SRT/WebVTT file for common players ([] when nothing): syntax,
    empty cues, lines over ``MAX_LINE_CHARS``, more than ``MAX_LINES`` lines, durations out
    of ``[MIN_CUE_S, MAX_CUE_S]`` (a cue cut short by the next one may be shorter), cues out
    of order or overlapping."""
    try:
        parsed = parse_subtitles(text, fmt)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    for i, (start, end, lines) in enumerate(parsed, start=1):
        if not any(line.strip() for line in lines):
            problems.append(f"cue {i} is empty")
        if len(lines) > MAX_LINES:
            problems.append(f"cue {i} has {len(lines)} lines")
        problems += [f"cue {i}: line over {MAX_LINE_CHARS} characters: {line!r}"
                     for line in lines if len(line) > MAX_LINE_CHARS]  # fmt: skip
        touching = i < len(parsed) and abs(parsed[i][0] - end) < 0.002
        if end - start > MAX_CUE_S + 1e-6 or (end - start < MIN_CUE_S - 1e-6 and not touching):
            problems.append(f"cue {i} lasts {end - start:.3f} s")
        if i > 1 and start < parsed[i - 2][1] - 1e-6:
            problems.append(f"cue {i} starts before cue {i - 1} ends")
    return problems

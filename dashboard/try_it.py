"""The Try it view: a pipeline result as the tables beside the transcript and summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from demo.metrics import ASR_METRICS, METRICS, SUMMARY_METRICS
from demo.pipeline import PIPELINES, PipelineResult

LATENCY_HEADERS = ["stage", "s"]

MEMORY_HEADERS = ["weights / process", "MB", "cached"]

SCORE_HEADERS = ["score", "value"]


def latency_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[stage, seconds]`` for load, ASR, summary, total, then the real-time factor
    (stages named as the chosen pipeline calls them)."""
    t = result.timings
    names = PIPELINES[result.options.pipeline].stage_labels
    rows = [[names.get(s, s), round(t[s], 2)] for s in ("load", "asr", "summarize", "total")]
    rows.append(["RTFx", round(result.rtfx, 1)])  # audio seconds per transcription second
    return rows


def memory_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[what, MB, cached]``: weights of each model, then the process peaks."""
    o, mem = result.options, result.memory
    asr_name = mem["asr"].label or (
        f"Whisper {o.asr} ({mem['asr'].quant}{' + adapter' if o.asr_adapter else ''})"
    )
    summ_name = mem["summarizer"].label or (
        f"Summarizer {o.summarizer}{' + adapter' if o.summarizer_adapter else ''}"
    )
    rows = [
        [asr_name, round(mem["asr"].weights_mb, 1), _yes(mem["asr"].cached)],
        [summ_name, round(mem["summarizer"].weights_mb, 1), _yes(mem["summarizer"].cached)],
        ["Process peak RSS", round(result.peak_rss_mb, 1), ""],
    ]
    if result.cuda_peak_mb is not None:
        rows.append(["CUDA peak allocated", round(result.cuda_peak_mb, 1), ""])
    return rows


def info_markdown(result: PipelineResult) -> str:
    """Language, device and the pipeline's notes (e.g. "bnb int8 is slow on CPU")."""
    text = f"Language: **{result.language_name or result.language}** · device: {result.device}"
    return text + "".join(f"\n\n⚠️ {note}" for note in result.notes)


def score_table(scores: Mapping[str, float]) -> list[list[Any]]:
    """Rows ``[score, value]`` with fractions shown x100; [] when nothing was scored."""
    return [
        [METRICS[key].title, METRICS[key].shown(scores[key])]
        for key in (*ASR_METRICS, *SUMMARY_METRICS)
        if key in scores
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"

"""Audio -> transcript -> summary, with latency per stage and memory per model.

``PipelineOptions`` is the one description of a configuration: the CLI's flags, the app's
inputs and the Compare view's rows all map onto its fields by name. ``PIPELINES`` holds the
ways from audio to summary: the cascade (Whisper, then a summarizer) and the end-to-end model
(``demo.pipelines.e2e``: Q-Former -> SmolLM2, no transcript stage). Both time the same stages
(load, asr = the speech stage, summarize, total) and report the memory of their two sides.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from demo.audio import SAMPLE_RATE, load_audio
from demo.cancel import check
from demo.measure import Measurements, measure
from demo.models import ModelCache
from demo.pipelines.cascade import run_cascade
from demo.pipelines.options import (
    CASCADE,
    E2E,
    MAX_BEAMS,
    MAX_SUMMARY_SENTENCES,
    MAX_SUMMARY_WORDS,
    PipelineOptions,
    References,
)
from demo.pipelines.result import STAGES, ModelInfo, PipelineResult, StageOutputs

# The front door: the pipelines' options and results live in demo.pipelines, importable here.
__all__ = [
    "CASCADE", "E2E", "MAX_BEAMS", "MAX_SUMMARY_SENTENCES", "MAX_SUMMARY_WORDS", "PIPELINES",
    "STAGES", "ModelInfo", "Pipeline", "PipelineOptions", "PipelineResult", "References",
    "StageOutputs", "decode_clip", "default_cache", "preload", "run_pipeline",
]  # fmt: skip

_DEFAULT_CACHE: ModelCache | None = None


def default_cache() -> ModelCache:
    """The process-wide model cache (created on first use, bounded by DEMO_MAX_MODELS)."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = ModelCache()
    return _DEFAULT_CACHE


def preload(options: PipelineOptions | None = None, cache: ModelCache | None = None) -> list:
    """Load the models of ``options`` (default: the app's default configuration) into ``cache``
    (default: the process-wide one), so that a first request finds them in memory; the specs
    loaded. A request arriving meanwhile waits for the cache's lock, then finds them there."""
    options = options or PipelineOptions()
    cache = cache if cache is not None else default_cache()
    specs = options.specs()
    for spec in specs:
        cache.get(spec)
    return specs


def decode_clip(
    audio: str | os.PathLike | bytes | np.ndarray, max_seconds: float, notes: list[str]
) -> np.ndarray:
    """16 kHz mono float32 samples of a path, file bytes or samples; decoding caveats go to
    ``notes`` (a file cut short, say)."""
    if isinstance(audio, np.ndarray):
        return audio.astype(np.float32, copy=False)
    source = str(audio) if isinstance(audio, Path) else audio
    return load_audio(source, max_seconds=max_seconds, notes=notes)


@dataclass(frozen=True)
class Pipeline:
    """One way from audio to summary."""

    name: str
    label: str  # what the app's choice shows
    run: Callable[..., StageOutputs]  # (samples, options, cache, measurements, steps)
    stage_labels: dict[str, str]  # what its timed stages are called in tables


def _run_e2e(*args) -> StageOutputs:
    from demo.pipelines.e2e import run_e2e  # torch and the bridge: only when it runs

    return run_e2e(*args)


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline(
            CASCADE, "cascade (Whisper → summarizer)", run_cascade,
            {"load": "load models", "asr": "transcribe", "summarize": "summarize"},
        ),
        Pipeline(
            E2E, "end-to-end (Q-Former → SmolLM2)", _run_e2e,
            {"load": "load model", "asr": "encode speech (encoder + Q-Former)",
             "summarize": "generate summary (LM)"},
        ),
    )
}  # fmt: skip


def run_pipeline(
    audio: str | os.PathLike | bytes | np.ndarray,
    options: PipelineOptions | None = None,
    cache: ModelCache | None = None,
    references: References | None = None,
) -> PipelineResult:
    """Transcribe and summarize one clip (or summarize it end to end), measuring each stage,
    and score it against ``references`` when given.

    ``audio`` is a path, raw file bytes, or 16 kHz mono float32 samples.
    """
    options = options or PipelineOptions()
    cache = cache if cache is not None else default_cache()  # an empty cache is falsy
    m = Measurements()
    notes: list[str] = []
    with tqdm(total=4, desc="decoding audio", unit="stage", leave=False) as steps:
        with measure("total", m):
            samples = decode_clip(audio, options.max_seconds, notes)
            check()
            steps.set_description("loading models")
            steps.update(1)
            out = PIPELINES[options.pipeline].run(samples, options, cache, m, steps)
            steps.update(1)
    notes = list(dict.fromkeys(notes + out.notes))
    said = out.transcript if out.has_transcript else None
    scores = references.scores(said, out.summary, out.language) if references else {}
    if out.grounding and out.summary:  # the details the transcript lacks, always checked
        scores["unsupported_details"] = float(out.grounding["unsupported_count"])
    return PipelineResult(
        options=options,
        transcript=out.transcript,
        language=out.language,
        language_name=out.language_name,
        summary=out.summary,
        audio_seconds=len(samples) / SAMPLE_RATE,
        timings={stage: m.stages[stage].seconds for stage in STAGES},
        peak_rss_mb=m.peak_rss_mb(),
        cuda_peak_mb=m.cuda_peak_mb(),
        memory=out.memory,
        device=out.device,
        notes=notes,
        scores=scores,
        grounding=out.grounding,
        segments=out.segments,
    )

"""The cascade pipeline: Whisper transcribes, then a summarizer summarizes the transcript.

Timed stages (``demo.pipeline.run_pipeline`` wraps them): "load" gets both models from the
shared cache, "asr" transcribes, "summarize" writes the grounded summary.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from demo.asr import transcribe
from demo.cancel import check
from demo.measure import measure
from demo.models import ModelCache
from demo.pipelines.result import ModelInfo, StageOutputs
from demo.summarize import summarize_grounded


def run_cascade(samples: np.ndarray, options, cache: ModelCache, m, steps) -> StageOutputs:
    """The cascade's stages (``demo.pipeline.Pipeline.run``): Whisper, then a summarizer."""
    with measure("load", m):
        asr_model, asr_cached = cache.get(options.asr_spec())
        summ_model, summ_cached = cache.get(options.summarizer_spec())
    check()
    steps.set_description("transcribing")
    steps.update(1)
    with measure("asr", m):
        transcript = transcribe(asr_model, samples, options.transcribe_options())
    check()
    steps.set_description("summarizing")
    steps.update(1)
    with measure("summarize", m):
        summary = summarize_grounded(summ_model, transcript.text, options.summary_options())
    notes = asr_model.notes + summ_model.notes + summary.notes
    if not transcript.text:
        notes.append("Whisper heard no words in this clip.")
    elif transcript.language not in (None, "en"):
        notes.append(
            f"Summarized a transcript in {transcript.language_name or transcript.language}."
        )
    if transcript.silent_windows:
        notes.append(
            f"{transcript.silent_windows} stretch(es) of the clip held no speech by Whisper's "
            "own no-speech test; nothing was written for them."
        )
    return StageOutputs(
        transcript=transcript.text,
        language=transcript.language,
        language_name=transcript.language_name,
        summary=summary.text,
        grounding=summary.to_dict(),
        segments=[asdict(segment) for segment in transcript.segments],
        memory={
            "asr": ModelInfo(asr_model.weights_mb, asr_cached, asr_model.spec.quant),
            "summarizer": ModelInfo(summ_model.weights_mb, summ_cached, summ_model.spec.quant),
        },
        device=asr_model.spec.device,
        notes=notes,
    )

"""The end-to-end pipeline choice: audio -> summary through a trained E2E model, no transcript.

Timed like the cascade (``demo.pipelines.cascade``): "load" loads the model through the shared
cache, "asr" is the speech stage (the frozen encoder on each 30 s window and the Q-Former; the
model's own transcript too when ``e2e_transcript`` asks for it), "summarize" the LM's greedy
summary, cut to the requested length as the LLM summarizer's is. Memory: the speech side
(encoder + Q-Former + projection) and the LM (with its merged adapter).
"""

from __future__ import annotations

import numpy as np

from demo.bridge.e2e import SUMMARY_TASK, TRANSCRIBE_TASK
from demo.cancel import check
from demo.measure import measure
from demo.pipelines.result import ModelInfo, StageOutputs

NO_TRANSCRIPT = "The end-to-end model goes from audio to summary without a transcript."
# The cascade marks each detail its transcript lacks; nothing can do that for this summary,
# and bench.e2e's control (its summaries against another clip's reference) found no trace of
# the recording in them (assets/benchmarks.md, "Speech -> summary").
UNCHECKED = (
    "Research system: nothing checks this summary against what was said (there is no "
    "transcript), and on the spoken test abstracts the end-to-end model's summaries matched "
    "another talk's summary as closely as their own, so it may state what the recording does not."
)
TRANSCRIPT_TOKENS = 224  # Whisper's own limit per 30 s window is 448 tokens; one clip here


def run_e2e(samples: np.ndarray, options, cache, m, steps) -> StageOutputs:
    """The ``e2e`` pipeline's stages (``demo.pipeline.Pipeline.run``)."""
    from demo.summarize.llm import clean_summary, max_new_tokens

    with measure("load", m):
        loaded, cached = cache.get(options.e2e_spec())
    model = loaded.model
    config = model.config
    check()
    steps.set_description("encoding speech")
    steps.update(1)
    notes: list[str] = []
    # A model trained only to transcribe gives its transcript, asked or not.
    transcribe = options.e2e_transcript or SUMMARY_TASK not in config.stages
    with measure("asr", m):
        features, mask, windows = model.encode_audio(samples)
        transcript = ""
        if transcribe:
            transcript = model.generate(features, mask, windows, task=TRANSCRIBE_TASK,
                                        max_new_tokens=TRANSCRIPT_TOKENS)[0]  # fmt: skip
    check()
    steps.set_description("generating the summary")
    steps.update(1)
    summary_options = options.summary_options()
    with measure("summarize", m):
        raw = model.generate(features, mask, windows, task=SUMMARY_TASK,
                             max_new_tokens=max_new_tokens(summary_options))[0]  # fmt: skip
        summary = clean_summary(raw, summary_options.max_sentences, summary_options.max_words)
    if SUMMARY_TASK not in config.stages:
        notes.append(
            f"This end-to-end model was trained only to transcribe ({', '.join(config.stages)}); "
            "its summary is untrained: train the e2e-summary stage from it."
        )
    elif not transcribe:
        notes.append(NO_TRANSCRIPT)
    elif TRANSCRIBE_TASK not in config.stages:
        notes.append("Its transcript comes from an instruction it was never trained on.")
    if summary:
        notes.append(UNCHECKED)
    sizes = model.footprints_mb()
    lora = f" + LoRA r{config.lora_rank} (merged)" if config.lora_rank else ""
    memory = {
        "asr": ModelInfo(sizes["speech"], cached, loaded.spec.quant,
                         f"E2E {loaded.entry.run}: Whisper {config.encoder} encoder + Q-Former "
                         f"({config.num_queries} queries a window)"),
        "summarizer": ModelInfo(sizes["lm"], cached, loaded.spec.quant, f"LM {config.lm}{lora}"),
    }  # fmt: skip
    return StageOutputs(
        transcript=transcript,
        language="en",  # trained on English speech and summaries only
        language_name="English",
        summary=summary,
        memory=memory,
        device=loaded.spec.device,
        notes=notes,
        has_transcript=bool(transcript),
    )

"""What a pipeline's stages hand back: the outputs and each model's memory."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelInfo:
    weights_mb: float  # weights + buffers footprint
    cached: bool  # already in memory (load time ~0)
    quant: str  # the concrete mode it runs in (what "auto" resolved to)
    label: str = ""  # what the part is, where the options don't say (the end-to-end model's)


@dataclass
class StageOutputs:
    """What a pipeline's own stages produce; ``run_pipeline`` measures and wraps them."""

    transcript: str  # "" when the pipeline made none
    language: str | None
    language_name: str | None
    summary: str
    memory: dict[str, ModelInfo]
    device: str
    notes: list[str] = field(default_factory=list)
    has_transcript: bool = True  # False: nothing to score against a reference transcript
    grounding: dict = field(default_factory=dict)  # PipelineResult.grounding

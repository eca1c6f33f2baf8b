"""What a pipeline hands back: its stages' outputs, each model's memory, and the
``PipelineResult`` that ``demo.pipeline.run_pipeline`` makes of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from demo.pipelines.options import PipelineOptions
from demo.provenance import versions

STAGES = ("load", "asr", "summarize", "total")


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
    segments: list[dict] = field(default_factory=list)  # PipelineResult.segments


@dataclass
class PipelineResult:
    options: PipelineOptions
    transcript: str
    language: str | None
    language_name: str | None
    summary: str
    audio_seconds: float
    # load, asr, summarize, total (seconds); end-to-end: asr is the speech stage (encoder +
    # Q-Former, and its own transcript when asked), summarize the LM's generation
    timings: dict[str, float]
    peak_rss_mb: float  # highest process RSS seen during the run
    cuda_peak_mb: float | None
    # "asr" / "summarizer"; end-to-end: its speech side (encoder + Q-Former) and its LM
    memory: dict[str, ModelInfo]
    device: str
    notes: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # against the references, if any
    # the summary's sentences with their transcript sources and unsupported details
    # (demo.summarize.grounded.Summary.to_dict); empty for the end-to-end pipeline
    grounding: dict = field(default_factory=dict)
    # the transcript's segments with times (demo.asr.segments.Segment as dicts: start, end,
    # text, words); demo.export writes them as TXT, SRT, WebVTT and JSON
    segments: list[dict] = field(default_factory=list)

    @property
    def rtfx(self) -> float:
        """Audio seconds per second of transcription (end-to-end: of the speech stage)."""
        return self.audio_seconds / self.timings["asr"] if self.timings.get("asr") else 0.0

    def to_dict(self) -> dict:
        """The one JSON schema of a run (the CLI's --json, demo.export's JSON file)."""
        data = asdict(self)
        data["rtfx"] = self.rtfx
        data["versions"] = versions()
        return data

"""Audio -> transcript -> summary, with latency per stage and memory per model.

``PipelineOptions`` is the one description of a configuration: the CLI's flags, the app's
inputs and the Compare view's rows all map onto its fields by name.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from demo.asr import TranscribeOptions, transcribe
from demo.audio import DEFAULT_MAX_SECONDS, SAMPLE_RATE, load_audio
from demo.measure import Measurements, measure
from demo.models import ModelCache, ModelSpec
from demo.quant import get_quant_mode
from demo.registry import DEFAULT_ASR, DEFAULT_SUMMARIZER, get_summarizer, get_whisper_model
from demo.summarize import SummaryOptions, summarize

STAGES = ("load", "asr", "summarize", "total")


@dataclass(frozen=True)
class PipelineOptions:
    asr: str = DEFAULT_ASR  # Whisper registry name or hub id
    quant: str = "full"  # Whisper quantization mode
    asr_adapter: str | None = None  # PEFT adapter directory for Whisper
    summarizer: str = DEFAULT_SUMMARIZER  # summarizer registry name or hub id
    summarizer_quant: str = "full"  # summarizer quantization mode
    summarizer_adapter: str | None = None  # PEFT adapter directory for the summarizer
    device: str = "auto"  # auto, cpu or cuda
    language: str | None = None  # spoken language (ISO code); None detects it
    num_beams: int = 1  # Whisper beam width (1 = greedy)
    summary_sentences: int = 3  # extractive summary length in sentences
    summary_words: int | None = None  # extractive word budget
    max_seconds: float = DEFAULT_MAX_SECONDS  # refuse longer audio

    def __post_init__(self) -> None:
        # Fail fast with the list of valid names, before any audio is decoded.
        get_whisper_model(self.asr)
        get_summarizer(self.summarizer)
        get_quant_mode(self.quant)
        get_quant_mode(self.summarizer_quant)
        if self.max_seconds <= 0:
            raise ValueError("max_seconds must be positive.")
        TranscribeOptions(language=self.language, num_beams=self.num_beams)
        SummaryOptions(max_sentences=self.summary_sentences, max_words=self.summary_words)

    def asr_spec(self) -> ModelSpec:
        return ModelSpec("asr", self.asr, self.quant, self.asr_adapter, self.device)

    def summarizer_spec(self) -> ModelSpec:
        return ModelSpec(
            "summarizer",
            self.summarizer,
            self.summarizer_quant,
            self.summarizer_adapter,
            self.device,
        )

    def label(self) -> str:
        """Short name for tables and charts, e.g. ``tiny.en/int8 -> extractive``."""
        asr = f"{self.asr}/{self.quant}" + ("+adapter" if self.asr_adapter else "")
        summ = self.summarizer + ("+adapter" if self.summarizer_adapter else "")
        return f"{asr} -> {summ}"


@dataclass
class ModelMemory:
    weights_mb: float  # weights + buffers footprint
    cached: bool  # already in memory (load time ~0)


@dataclass
class PipelineResult:
    options: PipelineOptions
    transcript: str
    language: str | None
    language_name: str | None
    summary: str
    audio_seconds: float
    timings: dict[str, float]  # load, asr, summarize, total (seconds)
    peak_rss_mb: float  # highest process RSS seen during the run
    cuda_peak_mb: float | None
    memory: dict[str, ModelMemory]  # "asr" / "summarizer"
    device: str
    notes: list[str] = field(default_factory=list)

    @property
    def rtfx(self) -> float:
        """Audio seconds per second of transcription."""
        return self.audio_seconds / self.timings["asr"] if self.timings.get("asr") else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["rtfx"] = self.rtfx
        return data


_DEFAULT_CACHE: ModelCache | None = None


def default_cache() -> ModelCache:
    """The process-wide model cache (created on first use, bounded by DEMO_MAX_MODELS)."""
    global _DEFAULT_CACHE
    if _DEFAULT_CACHE is None:
        _DEFAULT_CACHE = ModelCache()
    return _DEFAULT_CACHE


def run_pipeline(
    audio: str | os.PathLike | bytes | np.ndarray,
    options: PipelineOptions | None = None,
    cache: ModelCache | None = None,
) -> PipelineResult:
    """Transcribe and summarize one clip, measuring each stage.

    ``audio`` is a path, raw file bytes, or 16 kHz mono float32 samples.
    """
    options = options or PipelineOptions()
    cache = cache if cache is not None else default_cache()  # an empty cache is falsy
    m = Measurements()
    steps = tqdm(total=4, desc="pipeline", unit="stage")
    with measure("total", m):
        if isinstance(audio, np.ndarray):
            samples = audio.astype(np.float32, copy=False)
        else:
            src = str(audio) if isinstance(audio, Path) else audio
            samples = load_audio(src, max_seconds=options.max_seconds)
        steps.set_description("loading models")
        steps.update(1)
        with measure("load", m):
            asr_model, asr_cached = cache.get(options.asr_spec())
            summ_model, summ_cached = cache.get(options.summarizer_spec())
        steps.set_description("transcribing")
        steps.update(1)
        with measure("asr", m):
            transcript = transcribe(
                asr_model,
                samples,
                TranscribeOptions(language=options.language, num_beams=options.num_beams),
            )
        steps.set_description("summarizing")
        steps.update(1)
        with measure("summarize", m):
            summary = summarize(
                summ_model,
                transcript.text,
                SummaryOptions(
                    max_sentences=options.summary_sentences, max_words=options.summary_words
                ),
            )
        steps.update(1)
    steps.close()
    notes = list(dict.fromkeys(asr_model.notes + summ_model.notes))
    if not transcript.text:
        notes.append("Whisper heard no words in this clip.")
    return PipelineResult(
        options=options,
        transcript=transcript.text,
        language=transcript.language,
        language_name=transcript.language_name,
        summary=summary,
        audio_seconds=len(samples) / SAMPLE_RATE,
        timings={stage: m.stages[stage].seconds for stage in STAGES},
        peak_rss_mb=m.peak_rss_mb(),
        cuda_peak_mb=m.cuda_peak_mb(),
        memory={
            "asr": ModelMemory(asr_model.weights_mb, asr_cached),
            "summarizer": ModelMemory(summ_model.weights_mb, summ_cached),
        },
        device=asr_model.spec.device,
        notes=notes,
    )

"""Audio -> transcript -> summary, with latency per stage and memory per model.

``PipelineOptions`` is the one description of a configuration: the CLI's flags, the app's
inputs and the Compare view's rows all map onto its fields by name. ``PIPELINES`` holds the
ways from audio to summary: the cascade (Whisper, then a summarizer) and the end-to-end model
(``demo.bridge.serve``: Q-Former -> SmolLM2, no transcript stage). Both time the same stages
(load, asr = the speech stage, summarize, total) and report the memory of their two sides.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from demo.asr import TranscribeOptions, language_names, transcribe
from demo.asr.registry import DEFAULT_ASR, get_whisper_model
from demo.audio import SAMPLE_RATE, load_audio
from demo.cancel import check
from demo.errors import DemoError, unknown_choice
from demo.measure import Measurements, measure
from demo.models import ModelCache, ModelSpec
from demo.options import option
from demo.quant import AUTO
from demo.settings import DEFAULT_MAX_SECONDS
from demo.summarize import SummaryOptions, summarize_grounded
from demo.summarize.registry import DEFAULT_SUMMARIZER, SUMMARY_STYLES, split_summarizer

STAGES = ("load", "asr", "summarize", "total")
CASCADE, E2E = "cascade", "e2e"
MAX_BEAMS = 10
MAX_SUMMARY_SENTENCES = 50
MAX_SUMMARY_WORDS = 2000


@dataclass(frozen=True)
class PipelineOptions:
    asr: str = option(DEFAULT_ASR, "Whisper registry name, hub id or local checkpoint")
    quant: str = option(AUTO, "Whisper quantization mode; auto = fastest accurate one here")
    asr_adapter: str | None = option(None, "PEFT adapter folder for Whisper (safetensors)")
    compression: str | None = option(None, "a low-rank Whisper run folder (checkpoints/<run>)")
    summarizer: str = option(
        DEFAULT_SUMMARIZER, "summarizer: auto, a registry name or hub id, or <model>+<strategy>"
    )
    summarizer_quant: str = option(AUTO, "summarizer quantization mode")
    summarizer_adapter: str | None = option(None, "PEFT adapter folder for the summarizer")
    device: str = option("auto", "auto, cpu or cuda")
    language: str | None = option(None, "spoken language (ISO code); none detects it")
    num_beams: int = option(1, "Whisper beam width (1 = greedy)")
    summary_sentences: int = option(3, "summary length in sentences")
    summary_words: int | None = option(None, "summary word budget (none = no budget)")
    summary_style: str = option(
        SUMMARY_STYLES[0], "prose, or key-points (decisions, tasks, numbers)"
    )
    max_seconds: float = option(DEFAULT_MAX_SECONDS, "refuse longer audio (seconds)")
    pipeline: str = option(CASCADE, "cascade (Whisper -> summarizer) or e2e (Q-Former -> LM)")
    e2e_model: str | None = option(
        None, "e2e: a trained end-to-end model folder (none = the newest in checkpoints/)"
    )
    e2e_transcript: bool = option(False, "e2e: also ask the end-to-end model for a transcript")
    word_timestamps: bool = option(
        False, "word times from Whisper's cross-attention (DTW): exact subtitle times, slower"
    )

    def __post_init__(self) -> None:
        # Fail fast with the list of valid names, before any audio is decoded or model loaded.
        if self.pipeline not in PIPELINES:
            raise unknown_choice("pipeline", self.pipeline, list(PIPELINES))
        entry = get_whisper_model(self.asr)
        self.asr_spec()
        self.summarizer_spec()
        if not (isinstance(self.max_seconds, int | float) and math.isfinite(self.max_seconds)):
            raise ValueError("max_seconds must be a finite number of seconds, e.g. 600.")
        if self.max_seconds <= 0:
            raise ValueError("max_seconds must be positive.")
        if not 1 <= self.num_beams <= MAX_BEAMS:
            raise ValueError(f"num_beams must be between 1 and {MAX_BEAMS}.")
        if not 1 <= self.summary_sentences <= MAX_SUMMARY_SENTENCES:
            raise ValueError(f"summary_sentences must be between 1 and {MAX_SUMMARY_SENTENCES}.")
        if self.summary_words is not None and not 1 <= self.summary_words <= MAX_SUMMARY_WORDS:
            raise ValueError(f"summary_words must be between 1 and {MAX_SUMMARY_WORDS} (or none).")
        if self.language is not None:
            if self.language not in language_names():
                raise unknown_choice("language", self.language, sorted(language_names()))
            if not entry.multilingual and self.language != "en":
                raise DemoError(f"{entry.name} is English-only; pick a multilingual model.")
        TranscribeOptions(language=self.language, num_beams=self.num_beams)
        self.summary_options()

    def asr_spec(self) -> ModelSpec:
        return ModelSpec(
            "asr", self.asr, self.quant, self.asr_adapter, self.device, self.compression
        )

    def summarizer_spec(self) -> ModelSpec:
        # The model's weights, whichever strategy uses them (one copy in the cache).
        model = split_summarizer(self.summarizer)[0]
        return ModelSpec(
            "summarizer", model, self.summarizer_quant, self.summarizer_adapter, self.device
        )

    def e2e_spec(self) -> ModelSpec:
        """The end-to-end model: ``e2e_model``, or the newest trained one (one sentence on how
        to train one when there is none)."""
        from demo.bridge.e2e_io import e2e_folder, latest_e2e
        from demo.settings import settings

        folder = (
            e2e_folder(self.e2e_model) if self.e2e_model else latest_e2e(settings().checkpoints)
        )
        return ModelSpec("e2e", str(folder), "full", None, self.device)

    def specs(self) -> list[ModelSpec]:
        """What this configuration's pipeline loads."""
        return PIPELINES[self.pipeline].specs(self)

    def transcribe_options(self) -> TranscribeOptions:
        return TranscribeOptions(
            language=self.language, num_beams=self.num_beams, word_timestamps=self.word_timestamps
        )

    def summary_options(self) -> SummaryOptions:
        return SummaryOptions(
            max_sentences=self.summary_sentences, max_words=self.summary_words,
            strategy=split_summarizer(self.summarizer)[1], style=self.summary_style,
        )  # fmt: skip

    def label(self) -> str:
        """Short name for tables and charts, e.g. ``tiny.en/auto -> extractive``."""
        if self.pipeline != CASCADE:
            folder = Path(self.e2e_model or "newest")
            return f"{self.pipeline}: {folder.parent.name if folder.name == E2E else folder.name}"
        asr = f"{self.asr}/{self.quant}" + ("+adapter" if self.asr_adapter else "")
        asr += "+low-rank" if self.compression else ""
        summ = self.summarizer + ("+adapter" if self.summarizer_adapter else "")
        return f"{asr} -> {summ}"


@dataclass(frozen=True)
class References:
    """What the user says the clip contains: a reference transcript and/or summary."""

    transcript: str | None = None  # scored with WER/CER
    summary: str | None = None  # scored with ROUGE-1/2/L/Lsum/S and embedding similarity
    # key facts the summary must keep, one a line ("moved to Monday: Monday; moved"): recall
    facts: str | None = None

    def __post_init__(self) -> None:
        # Checked before any work: scoring time grows with the text (the word diff, ROUGE-L).
        from demo.settings import settings

        limit = settings().max_text_chars
        for name in ("transcript", "summary", "facts"):
            text = getattr(self, name)
            if text is not None and not isinstance(text, str):
                raise DemoError(f"The reference {name} must be text.")
            if text and len(text) > limit:
                raise DemoError(
                    f"The reference {name} is {len(text):,} characters long, over the "
                    f"{limit:,}-character limit; shorten it (or raise DEMO_MAX_TEXT_CHARS)."
                )

    def __bool__(self) -> bool:
        return any((text or "").strip() for text in (self.transcript, self.summary, self.facts))

    def scores(
        self, transcript: str | None, summary: str, language: str | None
    ) -> dict[str, float]:
        """WER/CER of the transcript, ROUGE F1 and embedding similarity of the summary
        (fractions); only the references given are scored, and no WER without a transcript
        (the end-to-end pipeline's)."""
        from demo.metrics import SUMMARY_METRICS, cer, summary_scores, wer

        scores: dict[str, float] = {}
        language = language or "en"
        if self.transcript and self.transcript.strip() and transcript is not None:
            scores["wer"] = wer(self.transcript, transcript, language=language)
            scores["cer"] = cer(self.transcript, transcript, language=language)
        if self.summary and self.summary.strip():
            found = summary_scores([self.summary], [summary], language=language)
            scores.update({key: found[key] for key in SUMMARY_METRICS})
        if self.facts and self.facts.strip():
            from demo.faithfulness import key_fact_recall, parse_facts

            scores["key_fact_recall"] = key_fact_recall(parse_facts(self.facts), summary)
        return scores


@dataclass
class ModelInfo:
    weights_mb: float  # weights + buffers footprint
    cached: bool  # already in memory (load time ~0)
    quant: str  # the concrete mode it runs in (what "auto" resolved to)
    label: str = ""  # what the part is, where the options don't say (the end-to-end model's)


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
        from demo.provenance import versions

        data = asdict(self)
        data["rtfx"] = self.rtfx
        data["versions"] = versions()
        return data


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


@dataclass(frozen=True)
class Pipeline:
    """One way from audio to summary."""

    name: str
    label: str  # what the app's choice shows
    run: Callable[..., StageOutputs]  # (samples, options, cache, measurements, steps)
    specs: Callable[[PipelineOptions], list[ModelSpec]]  # what it loads
    stage_labels: dict[str, str]  # what its timed stages are called in tables


def _cascade(samples: np.ndarray, options: PipelineOptions, cache: ModelCache, m, steps):
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
    if transcript.silent_windows:
        notes.append(
            f"{transcript.silent_windows} stretch(es) of the clip held no speech by Whisper's "
            "own no-speech test; nothing was written for them."
        )
    elif transcript.language not in (None, "en"):
        notes.append(
            f"Summarized a transcript in {transcript.language_name or transcript.language}."
        )
    return StageOutputs(
        transcript=transcript.text,
        language=transcript.language,
        language_name=transcript.language_name,
        summary=summary.text,
        grounding=summary.to_dict(),
        memory={
            "asr": ModelInfo(asr_model.weights_mb, asr_cached, asr_model.spec.quant),
            "summarizer": ModelInfo(summ_model.weights_mb, summ_cached, summ_model.spec.quant),
        },
        device=asr_model.spec.device,
        notes=notes,
        segments=[asdict(segment) for segment in transcript.segments],
    )


def _run_e2e(*args) -> StageOutputs:
    from demo.bridge.serve import run_e2e

    return run_e2e(*args)


PIPELINES: dict[str, Pipeline] = {
    p.name: p
    for p in (
        Pipeline(
            CASCADE, "cascade (Whisper → summarizer)", _cascade,
            lambda o: [o.asr_spec(), o.summarizer_spec()],
            {"load": "load models", "asr": "transcribe", "summarize": "summarize"},
        ),
        Pipeline(
            E2E, "end-to-end (Q-Former → SmolLM2)", _run_e2e, lambda o: [o.e2e_spec()],
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

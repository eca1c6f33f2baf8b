"""What one run of a pipeline is asked for: ``PipelineOptions`` (the one description of a
configuration: the CLI's flags, the app's inputs and the Compare view's rows map onto its fields
by name) and ``References`` (what the user says the clip contains, to score against)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from demo.asr import TranscribeOptions, language_names
from demo.asr.registry import DEFAULT_ASR, get_whisper_model
from demo.errors import DemoError, unknown_choice
from demo.models import ModelSpec
from demo.options import option
from demo.quant import AUTO
from demo.settings import DEFAULT_MAX_SECONDS
from demo.summarize import SummaryOptions
from demo.summarize.registry import DEFAULT_SUMMARIZER, SUMMARY_STYLES, split_summarizer

CASCADE, E2E = "cascade", "e2e"
PIPELINE_NAMES = (CASCADE, E2E)  # demo.pipeline.PIPELINES runs each
MAX_BEAMS = 10
MAX_SUMMARY_SENTENCES = 50
MAX_SUMMARY_WORDS = 2000


@dataclass(frozen=True)
class PipelineOptions:
    asr: str = option(DEFAULT_ASR, "Whisper registry name, hub id or local checkpoint")
    quant: str = option(AUTO, "Whisper quantization mode; auto = fastest accurate one here")
    asr_adapter: str | None = option(None, "PEFT adapter folder for Whisper (safetensors)")
    compression: str | None = option(
        None, "a low-rank or Q-Former bridge run folder for Whisper (checkpoints/<run>)"
    )
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
        if self.pipeline not in PIPELINE_NAMES:
            raise unknown_choice("pipeline", self.pipeline, list(PIPELINE_NAMES))
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
        return (
            [self.e2e_spec()] if self.pipeline == E2E else [self.asr_spec(), self.summarizer_spec()]
        )

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
        asr += f"+{_compression_name(self.compression)}" if self.compression else ""
        summ = self.summarizer + ("+adapter" if self.summarizer_adapter else "")
        return f"{asr} -> {summ}"


def _compression_name(folder: str) -> str:
    from demo.compress.choices import compression_kind

    try:
        return compression_kind(folder).name
    except DemoError:
        return "compressed"


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

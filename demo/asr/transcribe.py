"""Transcription with a loaded Whisper model: language detection, short and long-form audio.

Audio longer than one 30 s window is transcribed whole with transformers' sequential
long-form generation (timestamps drive the seek, as in openai/whisper ``transcribe``). Every
path decodes with timestamps and returns segments with times (``demo.asr.segments``); windows
the no-speech gate calls silent are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from demo.asr.segments import (
    LOGPROB_THRESHOLD,
    NO_SPEECH_THRESHOLD,
    Segment,
    TokenSegment,
    first_timestamp,
    snap_to_speech,
)
from demo.asr.words import AlignedWord, split_words, words_to_segments
from demo.audio import SAMPLE_RATE
from demo.cancel import check
from demo.errors import DemoError, unknown_choice

WINDOW_SECONDS = 30.0
WINDOW_FRAMES = 3000  # log-mel frames in one window
TASKS = ("transcribe", "translate")
LONG_FORMS = ("sequential", "chunked")  # demo.asr.fast.transcribe.LONG_FORMS


@dataclass(frozen=True)
class TranscribeOptions:
    language: str | None = None  # ISO code such as "en"; None detects it (multilingual models)
    task: str = "transcribe"  # or "translate" (to English, multilingual models)
    num_beams: int = 1  # 1 = greedy
    # Over 30 s, fast mode only: "sequential" (timestamp seek, as transformers) or "chunked"
    # (cut at pauses, batched); None: the model's rule (demo.asr.fast.transcribe).
    long_form: str | None = None
    # Drop windows Whisper itself calls silent (no-speech probability and log-probability, as
    # openai/whisper): no sentences invented over silence, music or noise. False: keep all.
    no_speech_gate: bool = True
    # Word times from the alignment heads' cross-attention (DTW, demo.asr.words); segment
    # edges then follow the first and last word.
    word_timestamps: bool = False

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise unknown_choice("task", self.task, list(TASKS))
        if self.long_form not in (None, *LONG_FORMS):
            raise unknown_choice("long_form", self.long_form, list(LONG_FORMS))
        if self.num_beams < 1:
            raise ValueError("num_beams must be at least 1.")


@dataclass
class Transcript:
    text: str
    language: str | None  # ISO code, None for English-only models
    language_name: str | None
    language_detected: bool  # True when the model chose it
    windows: int  # 30 s windows the audio spans
    segments: list[Segment] = field(default_factory=list)  # times in seconds from the start
    silent_windows: int = 0  # windows (or chunks) the no-speech gate dropped


def _unwrap(model):
    """The transformers model under a PEFT wrapper, if any."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _input_dtype(model):
    return _unwrap(model).model.encoder.conv1.weight.dtype


def _input_device(model):
    return _unwrap(model).model.encoder.conv1.weight.device


def language_names() -> dict[str, str]:
    """ISO code -> English name for every language Whisper knows."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    return dict(LANGUAGES)


def features_for(processor, audio: np.ndarray):
    """Log-mel features; one padded window for short audio, every frame for long audio."""
    long_form = len(audio) > WINDOW_SECONDS * SAMPLE_RATE
    kwargs = {"sampling_rate": SAMPLE_RATE, "return_tensors": "pt"}
    if long_form:
        kwargs.update(truncation=False, padding="longest", return_attention_mask=True)
    return processor.feature_extractor(audio, **kwargs), long_form


def detect_language(model, input_features) -> str:
    """ISO code of the language Whisper hears in the first window."""
    base = _unwrap(model)
    token_ids = base.detect_language(input_features[:, :, :WINDOW_FRAMES])
    id_to_lang = {v: k for k, v in base.generation_config.lang_to_id.items()}
    return id_to_lang[int(token_ids[0])].strip("<|>")


def _transcribe_fast(loaded, fast, audio: np.ndarray, options: TranscribeOptions) -> Transcript:
    from demo.asr.fast import mel_filters_of, transcribe_fast

    result = transcribe_fast(
        fast,
        mel_filters_of(loaded.processor),
        audio,
        language=options.language,
        task=options.task,
        num_beams=options.num_beams,
        long_form=options.long_form,
        gate=options.no_speech_gate,
        words=token_decoder(loaded.processor.tokenizer) if options.word_timestamps else None,
    )
    tokenizer = loaded.processor.tokenizer
    text = tokenizer.decode(result.tokens, skip_special_tokens=True).strip()
    code = result.language or "en"
    segments = result.text_segments
    if segments is None:
        segments = _text_segments(tokenizer, result.segments)
    return Transcript(
        text, code, language_names().get(code), result.detected, window_count(audio), segments,
        result.silent,
    )  # fmt: skip


def token_decoder(tokenizer):
    def decode(tokens: list[int]) -> str:
        return tokenizer.decode(tokens, skip_special_tokens=True)

    return decode


def _text_segments(tokenizer, segments: list[TokenSegment]) -> list[Segment]:
    """Segments with their text; a segment with no words (a lone timestamp pair) is left out."""
    out = []
    for segment in segments:
        text = tokenizer.decode(segment.tokens, skip_special_tokens=True).strip()
        if text:
            out.append(Segment(round(segment.start, 3), round(segment.end, 3), text))
    return out


def _advance(bar, progress) -> None:
    """transformers' long-form ``monitor_progress``: (seek frame, total frames) per item."""
    seek, total = (int(x) for x in progress[0])
    bar.update(min(bar.total, int(seek / max(total, 1) * bar.total)) - bar.n)
    check()  # raised inside generate: a stopped request ends after this window


def window_count(audio: np.ndarray) -> int:
    """How many 30 s windows the audio spans (at least one)."""
    return max(1, int(np.ceil(len(audio) / (WINDOW_SECONDS * SAMPLE_RATE))))


def transcribe(loaded, audio: np.ndarray, options: TranscribeOptions | None = None) -> Transcript:
    """Transcribe 16 kHz mono float32 audio with a loaded Whisper model (``demo.models``):
    the text, and segments with times whose edges sit where the voice starts and stops."""
    options = options or TranscribeOptions()
    transcript = _transcribe(loaded, audio, options)
    if options.no_speech_gate:  # "." alone over a hum: no letter or digit, no speech
        kept = [s for s in transcript.segments if any(c.isalnum() for c in s.text)]
        if len(kept) < len(transcript.segments):
            transcript.segments = kept
            transcript.text = " ".join(s.text for s in kept)
    transcript.segments = snap_to_speech(transcript.segments, audio, SAMPLE_RATE)
    return transcript


def _transcribe(loaded, audio: np.ndarray, options: TranscribeOptions) -> Transcript:
    import torch

    from demo.asr.fast import FastWhisper

    model, processor = loaded.model, loaded.processor
    multilingual = bool(getattr(_unwrap(model).generation_config, "is_multilingual", False))
    if not multilingual and options.language not in (None, "en"):
        raise DemoError(f"{loaded.entry.name} is English-only; pick a multilingual model.")
    if options.language and options.language not in language_names():
        raise unknown_choice("language", options.language, sorted(language_names()))
    if hasattr(model, "transcript_of"):  # its own way (the Q-Former bridge: demo.bridge.serve)
        return model.transcript_of(loaded, audio, options)
    if isinstance(model, FastWhisper):  # the fast-int8 mode rebuilt it when it loaded
        if not multilingual and options.task != "transcribe":
            raise DemoError(f"{loaded.entry.name} is English-only and can only transcribe.")
        return _transcribe_fast(loaded, model, audio, options)
    features, long_form = features_for(processor, audio)
    input_features = features.input_features.to(_input_device(model), _input_dtype(model))
    # Timestamps on every path: segments with times, and openai/whisper's seek over 30 s.
    kwargs: dict = {"num_beams": options.num_beams, "return_timestamps": True}
    kwargs.update(return_segments=True, return_token_timestamps=options.word_timestamps)
    if long_form:
        kwargs.update(attention_mask=features.attention_mask.to(input_features.device))
    if options.no_speech_gate:  # temperature 0 alone: the gate, without sampling fallback
        kwargs.update(no_speech_threshold=NO_SPEECH_THRESHOLD, temperature=0.0)
        kwargs.update(logprob_threshold=LOGPROB_THRESHOLD)
    language, detected = options.language, False
    with torch.inference_mode():
        if multilingual:
            if language is None:
                language, detected = detect_language(model, input_features), True
            kwargs.update(language=language, task=options.task)
        elif options.task != "transcribe":
            raise DemoError(f"{loaded.entry.name} is English-only and can only transcribe.")
        if long_form:
            with tqdm(total=window_count(audio), desc="transcribing", unit="window") as bar:
                kwargs["monitor_progress"] = lambda p: _advance(bar, p)
                output = model.generate(input_features=input_features, **kwargs)
                bar.update(bar.total - bar.n)
        else:
            output = model.generate(input_features=input_features, **kwargs)
    seconds = len(audio) / SAMPLE_RATE
    begin = first_timestamp(_unwrap(model).generation_config)
    segments = _generated_segments(output, begin, seconds)
    tokens = [t for segment in segments for t in segment.tokens]
    text = processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
    code = language if multilingual else "en"
    if options.word_timestamps:  # transformers' own DTW over the same alignment heads
        decode = token_decoder(processor.tokenizer)
        aligned = _generated_words(output, begin, decode)
        with_words = words_to_segments(segments, aligned, 0.0, seconds, decode)
    else:
        with_words = _text_segments(processor.tokenizer, segments)
    windows = window_count(audio)
    return Transcript(text, code, language_names().get(code), detected, windows, with_words)


def _generated_segments(output, begin: int, seconds: float) -> list[TokenSegment]:
    """transformers' ``generate(return_segments=True)`` segments of the first item (times in
    the clip, clamped to it), their timestamp tokens dropped."""
    out = []
    for segment in output["segments"][0]:
        text = [int(t) for t in segment["tokens"].tolist() if int(t) < begin]
        start = min(max(float(segment["start"]), 0.0), seconds)
        out.append(TokenSegment(start, min(max(float(segment["end"]), start), seconds), text))
    return out


def _generated_words(output, begin: int, decode) -> list[AlignedWord]:
    """Words with times from ``generate(return_token_timestamps=True)``: the time listed at a
    token is where the token after it starts (openai/whisper's jump times), so a word spans
    from the time before its first token to the time at its last."""
    out = []
    for segment in output["segments"][0]:
        tokens = [int(t) for t in segment["tokens"].tolist()]
        times = [float(t) for t in segment["token_timestamps"].tolist()]
        where = [i for i, t in enumerate(tokens) if t < begin]
        k = 0
        for word in split_words([tokens[i] for i in where], decode):
            first, last = where[k], where[k + len(word) - 1]
            out.append(AlignedWord(word, times[max(0, first - 1)], times[last]))
            k += len(word)
    return out

"""Whisper: the model registry, the CTranslate2 converter, transcription and the fast path.

``registry`` (sizes, bundled weights), ``ct2`` (CTranslate2 -> transformers converter),
``transcribe`` (language detection, short and long-form audio), ``fast/`` (the fast CPU
decoder, split by stage, and the GPU batched decoder).
"""

from demo.asr.transcribe import TranscribeOptions, Transcript, language_names, transcribe

__all__ = ["TranscribeOptions", "Transcript", "language_names", "transcribe"]

"""Fast CPU Whisper inference: the ``fast-int8`` quantization mode.

The standard path runs transformers' ``generate`` on a float or torch dynamic-int8 model. On a
small CPU most of its time goes to three things this module removes:

- the log-mel of the zero padding of a short clip (computed here only where the audio is; a
  frame that sees only zeros has a known value, so the result is bit-identical);
- the encoder's attention, which the fp32 flash kernel runs far below matmul speed: here the
  encoder runs in bf16 on CPUs with native bf16 (AVX512-BF16 / AMX) with plain batched matmuls
  and an in-place softmax, or in int8 with fp32 flash attention elsewhere;
- ``generate``'s per-token overhead: a hand-written greedy (or beam) loop with a preallocated
  KV cache, cross-attention keys/values computed once per window, fused q/k/v projections
  and int8 (per-channel, dynamic activations) decoder linears including the vocabulary
  projection ``proj_out``, which dominates a small model's decoding step.

Decoding follows transformers' Whisper generation: the same prompt tokens, suppressed tokens,
language detection on the first window, and for audio over 30 s the same sequential long-form
algorithm (timestamp tokens decide where the next window starts, ``WhisperTimeStampLogitsProcessor``
enforces the timestamp rules). ``to_fast`` turns a loaded fp32 model into a ``FastWhisper``.

Split by stage: ``features`` (log-mel), ``model`` (layers, KV cache), ``decoding`` (token
rules, greedy, beam), ``transcribe`` (one window or long-form), ``batched`` (GPU batches).
"""

from __future__ import annotations

from demo.asr.fast.decoding import detect_language
from demo.asr.fast.features import log_mel, mel_filters_of
from demo.asr.fast.model import FastWhisper, KVCache, native_bf16, to_fast
from demo.asr.fast.transcribe import FastResult, transcribe_fast

__all__ = [
    "FastResult",
    "FastWhisper",
    "KVCache",
    "detect_language",
    "log_mel",
    "mel_filters_of",
    "native_bf16",
    "to_fast",
    "transcribe_fast",
]

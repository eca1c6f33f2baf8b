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
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from demo.audio import SAMPLE_RATE

N_FFT = 400
HOP = 160
WINDOW_FRAMES = 3000  # log-mel frames in one 30 s window
WINDOW_SAMPLES = WINDOW_FRAMES * HOP
INPUT_STRIDE = 2  # mel frames per encoder position (conv2 has stride 2)
TIME_PRECISION = 0.02  # seconds per timestamp token
LOG_ZERO = -10.0  # log10 of the clamped power of a frame that sees only zeros
# auto: bf16 where the CPU has it natively, else int8. fp16 / bf16 everywhere: for GPUs.
ENCODER_PRECISIONS = ("auto", "bf16", "int8", "fp32", "fp16")
DECODER_PRECISIONS = ("int8", "fp32", "fp16", "bf16")  # fp32 decodes exactly as transformers
# One token at a time is too little work to share between threads: with two, every small op
# waits for the other thread, which on a busy machine costs more than the op (measured 20x).
DECODER_THREADS = 1
_DTYPES = {
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "int8": torch.float32,  # dynamic int8 linears take and return fp32
    "fp32": torch.float32,
}


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (AVX512-BF16 or AMX), not emulated."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and bool(
        torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )


# --------------------------------------------------------------------------- features


def log_mel(audio: np.ndarray, mel_filters: np.ndarray, pad_to_window: bool) -> torch.Tensor:
    """Whisper's log-mel spectrogram ``[1, n_mels, frames]``, as transformers computes it.

    ``pad_to_window`` pads short audio to one 30 s window (``padding="max_length"``); else the
    frames cover the audio only (long-form, ``padding="longest"``). Frames whose STFT window
    lies wholly in the zero padding are filled with their known value instead of computed.
    """
    audio = np.asarray(audio, dtype=np.float32)
    total = max(WINDOW_SAMPLES, len(audio)) if pad_to_window else len(audio)
    frames = total // HOP  # the STFT gives total // HOP + 1 frames; Whisper drops the last
    # Frame f is centred on sample f * HOP and spans N_FFT samples; past `needed` all are zero.
    needed = min(frames, (len(audio) + N_FFT // 2) // HOP + 1)
    span = min(total, (needed - 1) * HOP + N_FFT // 2 + 1)
    wave = torch.zeros(span)
    wave[: min(span, len(audio))] = torch.from_numpy(audio[:span])
    stft = torch.stft(wave, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = stft[..., :needed].abs() ** 2
    filters = torch.from_numpy(mel_filters).to(torch.float32)
    log_spec = torch.full((filters.shape[1], frames), LOG_ZERO)
    log_spec[:, :needed] = (filters.T @ power).clamp(min=1e-10).log10()
    log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).unsqueeze(0)


# --------------------------------------------------------------------------- weights


def _dynamic_int8(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    """A torch dynamic-int8 Linear with per-output-channel weight scales."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
    from torch.ao.quantization import per_channel_dynamic_qconfig

    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    linear.weight = nn.Parameter(weight.detach().float().cpu().clone(), requires_grad=False)
    if bias is not None:
        linear.bias = nn.Parameter(bias.detach().float().cpu().clone(), requires_grad=False)
    linear.qconfig = per_channel_dynamic_qconfig
    return DynamicLinear.from_float(linear)


def _float_linear(weight: torch.Tensor, bias: torch.Tensor | None, dtype) -> nn.Linear:
    # Built on the meta device: no random initialisation of weights about to be replaced.
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    linear.weight = nn.Parameter(weight.detach().to(dtype).clone(), requires_grad=False)
    if bias is not None:
        linear.bias = nn.Parameter(bias.detach().to(dtype).clone(), requires_grad=False)
    return linear


def _weights(linear: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Float weight and bias of an ``nn.Linear`` or a torch dynamic-int8 Linear."""
    if isinstance(linear, nn.Linear):
        return linear.weight.detach().float(), (
            None if linear.bias is None else linear.bias.detach().float()
        )
    weight, bias = linear._packed_params._weight_bias()
    return weight.dequantize(), bias


def _fused(*linears: nn.Module, scale_first: float = 1.0):
    """Concatenate linears along the output dim (missing biases are zero), scaling the first."""
    weights, biases = [], []
    for i, linear in enumerate(linears):
        weight, bias = _weights(linear)
        if bias is None:
            bias = torch.zeros(weight.shape[0], dtype=weight.dtype, device=weight.device)
        factor = scale_first if i == 0 else 1.0
        weights.append(weight * factor)
        biases.append(bias * factor)
    return torch.cat(weights), torch.cat(biases)


def _layer_norm(norm: nn.LayerNorm) -> nn.LayerNorm:
    out = nn.LayerNorm(norm.normalized_shape, eps=norm.eps)
    out.weight.data = norm.weight.detach().float().clone()
    out.bias.data = norm.bias.detach().float().clone()
    return out


def _linear(weight: torch.Tensor, bias: torch.Tensor | None, precision: str) -> nn.Module:
    if precision == "int8":
        return _dynamic_int8(weight, bias)
    return _float_linear(weight, bias, _DTYPES[precision])


class _EncoderLayer(nn.Module):
    def __init__(self, layer, heads: int, precision: str) -> None:
        super().__init__()
        attn = layer.self_attn
        self.heads, self.dtype = heads, _DTYPES[precision]
        self.ln1 = _layer_norm(layer.self_attn_layer_norm)
        self.ln2 = _layer_norm(layer.final_layer_norm)
        # The attention scale is folded into the query projection.
        qkv = _fused(attn.q_proj, attn.k_proj, attn.v_proj, scale_first=attn.scaling)
        self.qkv = _linear(*qkv, precision)
        self.out = _linear(*_weights(attn.out_proj), precision)
        self.fc1 = _linear(*_weights(layer.fc1), precision)
        self.fc2 = _linear(*_weights(layer.fc2), precision)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        qkv = self.qkv(self.ln1(x).to(self.dtype))
        q, k, v = qkv.view(batch, length, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        if self.dtype == torch.float32 or x.is_cuda:
            a = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        else:
            # Plain bf16 matmuls run several times faster than the CPU flash kernel here.
            scores = torch.matmul(q, k.transpose(-1, -2))
            torch.softmax(scores, dim=-1, out=scores)
            a = torch.matmul(scores, v)
        x = x + self.out(a.transpose(1, 2).reshape(batch, length, dim)).float()
        h = F.gelu(self.fc1(self.ln2(x).to(self.dtype)))
        return x + self.fc2(h).float()


class _DecoderLayer(nn.Module):
    def __init__(self, layer, heads: int, precision: str, cross_precision: str) -> None:
        super().__init__()
        self.heads, self.dtype = heads, _DTYPES[precision]
        attn, cross = layer.self_attn, layer.encoder_attn
        self.ln1 = _layer_norm(layer.self_attn_layer_norm)
        self.ln2 = _layer_norm(layer.encoder_attn_layer_norm)
        self.ln3 = _layer_norm(layer.final_layer_norm)
        qkv = _fused(attn.q_proj, attn.k_proj, attn.v_proj, scale_first=attn.scaling)
        self.qkv = _linear(*qkv, precision)
        self.out = _linear(*_weights(attn.out_proj), precision)
        self.cross_q = _linear(*_fused(cross.q_proj, scale_first=cross.scaling), precision)
        # Cross keys/values are computed once per window over 1500 positions: a real matmul,
        # done at the encoder's precision.
        self.cross_dtype = _DTYPES[cross_precision]
        self.cross_kv = _linear(*_fused(cross.k_proj, cross.v_proj), cross_precision)
        self.cross_out = _linear(*_weights(cross.out_proj), precision)
        self.fc1 = _linear(*_weights(layer.fc1), precision)
        self.fc2 = _linear(*_weights(layer.fc2), precision)

    def cross_keys_values(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, dim = encoded.shape
        kv = self.cross_kv(encoded.to(self.cross_dtype)).to(self.dtype)
        k, v = kv.view(batch, length, 2, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        return k.contiguous(), v.contiguous()

    def forward(self, x, start: int, cache_k, cache_v, cross_k, cross_v) -> torch.Tensor:
        """``x``: ``[batch, n, d]`` fp32 at positions ``start...``; caches are written."""
        batch, length, dim = x.shape
        q, k, v = self._qkv(x)
        end = start + length
        cache_k[:, :, start:end] = k
        cache_v[:, :, start:end] = v
        # The prompt (several tokens) always starts at 0, so a causal mask is exact there.
        a = F.scaled_dot_product_attention(
            q, cache_k[:, :, :end], cache_v[:, :, :end], is_causal=length > 1, scale=1.0
        )
        return self._rest(x, a, cross_k, cross_v)

    def step(self, x, position, mask, cache_k, cache_v, cross_k, cross_v) -> torch.Tensor:
        """One token per sequence at ``position`` (a 1-element tensor) over the whole cache.

        Shapes never change from step to step, so a CUDA graph can replay it; ``mask`` hides
        the positions not written yet.
        """
        q, k, v = self._qkv(x)
        cache_k.index_copy_(2, position, k)
        cache_v.index_copy_(2, position, v)
        a = F.scaled_dot_product_attention(q, cache_k, cache_v, attn_mask=mask, scale=1.0)
        return self._rest(x, a, cross_k, cross_v)

    def _qkv(self, x):
        batch, length, dim = x.shape
        qkv = self.qkv(self.ln1(x).to(self.dtype))
        shape = (batch, length, 3, self.heads, dim // self.heads)
        return qkv.view(shape).permute(2, 0, 3, 1, 4)

    def _rest(self, x, a, cross_k, cross_v) -> torch.Tensor:
        batch, length, dim = x.shape
        x = x + self.out(a.transpose(1, 2).reshape(batch, length, dim)).float()
        q = self.cross_q(self.ln2(x).to(self.dtype))
        q = q.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, cross_k, cross_v, scale=1.0)
        x = x + self.cross_out(a.transpose(1, 2).reshape(batch, length, dim)).float()
        h = F.gelu(self.fc1(self.ln3(x).to(self.dtype)))
        return x + self.fc2(h).float()


class FastWhisper(nn.Module):
    """A Whisper model rebuilt for fast inference (see the module docstring).

    On a CPU: ``encoder="auto", decoder="int8"``. On a GPU (``.to("cuda")``): fp16 or bf16
    for both, decoded in batches by ``demo.batched``.

    Holds its own weights (the float model it was built from can be dropped), the model's
    ``config`` and ``generation_config``, and is scored by ``demo.measure`` like any model.
    """

    def __init__(self, model, encoder: str = "auto", decoder: str = "int8") -> None:
        super().__init__()
        if encoder not in ENCODER_PRECISIONS:
            raise ValueError(f"encoder must be one of {ENCODER_PRECISIONS}, got {encoder!r}.")
        if decoder not in DECODER_PRECISIONS:
            raise ValueError(f"decoder must be one of {DECODER_PRECISIONS}, got {decoder!r}.")
        if encoder == "auto":
            encoder = "bf16" if native_bf16() else "int8"
        self.precision = {"encoder": encoder, "decoder": decoder}
        self.decoder_threads = DECODER_THREADS  # intra-op threads while decoding on a CPU
        dtype = self.compute_dtype = _DTYPES[encoder]
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.config = base.config
        self.generation_config = base.generation_config
        enc, dec = base.model.encoder, base.model.decoder
        # Convolutions are cheap next to the layers; they run at the encoder's float dtype.
        self.conv1 = nn.Conv1d(enc.conv1.in_channels, enc.conv1.out_channels, 3, padding=1)
        self.conv2 = nn.Conv1d(enc.conv2.in_channels, enc.conv2.out_channels, 3, 2, padding=1)
        self.conv1.load_state_dict({k: v.float() for k, v in enc.conv1.state_dict().items()})
        self.conv2.load_state_dict({k: v.float() for k, v in enc.conv2.state_dict().items()})
        self.conv1.to(dtype)
        self.conv2.to(dtype)
        self.register_buffer("enc_pos", enc.embed_positions.weight.detach().float().clone())
        heads = self.config.encoder_attention_heads
        self.enc_layers = nn.ModuleList(_EncoderLayer(lay, heads, encoder) for lay in enc.layers)
        self.enc_ln = _layer_norm(enc.layer_norm)
        heads = self.config.decoder_attention_heads
        self.dec_layers = nn.ModuleList(
            _DecoderLayer(lay, heads, decoder, encoder) for lay in dec.layers
        )
        self.dec_ln = _layer_norm(dec.layer_norm)
        # Token embeddings are only looked up: with an int8 decoder, half precision holds them
        # (the bundled weights are float16 already). The output projection has its own copy.
        embed_dtype = torch.float16 if decoder == "int8" else _DTYPES[decoder]
        self.decoder_dtype = _DTYPES[decoder]
        self.register_buffer("embed", dec.embed_tokens.weight.detach().to(embed_dtype).clone())
        self.register_buffer("dec_pos", dec.embed_positions.weight.detach().float().clone())
        self.proj_out = _linear(*_weights(base.proj_out), decoder)
        self.eval()

    @property
    def max_length(self) -> int:
        return int(self.config.max_target_positions)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder output ``[batch, 1500, d_model]`` (fp32) for ``[batch, n_mels, 3000]``."""
        x = F.gelu(self.conv1(features.to(self.compute_dtype)))
        x = F.gelu(self.conv2(x))
        x = x.transpose(1, 2).float() + self.enc_pos[: x.shape[-1]]
        for layer in self.enc_layers:
            x = layer(x)
        return self.enc_ln(x)

    def new_cache(self, batch: int) -> _Cache:
        layers = len(self.dec_layers)
        heads = self.config.decoder_attention_heads
        shape = (layers, batch, heads, self.max_length, self.config.d_model // heads)
        like = {"dtype": self.decoder_dtype, "device": self.dec_pos.device}
        return _Cache(torch.zeros(shape, **like), torch.zeros(shape, **like), [], [])

    def cross(self, encoded: torch.Tensor, cache: _Cache) -> None:
        """Fill ``cache`` with every layer's cross-attention keys and values."""
        cache.cross_k, cache.cross_v = [], []
        for layer in self.dec_layers:
            k, v = layer.cross_keys_values(encoded)
            cache.cross_k.append(k)
            cache.cross_v.append(v)

    def decode(self, tokens: torch.Tensor, start: int, cache: _Cache) -> torch.Tensor:
        """Logits ``[batch, vocab]`` after ``tokens`` (``[batch, n]`` at positions start...)."""
        length = tokens.shape[1]
        x = self.embed[tokens].float() + self.dec_pos[start : start + length]
        batch = tokens.shape[0]
        for i, layer in enumerate(self.dec_layers):
            k, v = cache.cross_k[i], cache.cross_v[i]
            if k.shape[0] != batch:  # beams share one window's keys/values
                k, v = k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1)
            x = layer(x, start, cache.k[i], cache.v[i], k, v)
        return self.logits(x[:, -1])

    def step(self, tokens, position, mask, cache: _Cache) -> torch.Tensor:
        """Logits ``[batch, vocab]`` after one token per sequence (``tokens``: ``[batch, 1]``)
        at ``position`` (a 1-element tensor); see ``_DecoderLayer.step``."""
        x = self.embed[tokens].float() + self.dec_pos.index_select(0, position)
        for i, layer in enumerate(self.dec_layers):
            x = layer.step(
                x, position, mask, cache.k[i], cache.v[i], cache.cross_k[i], cache.cross_v[i]
            )
        return self.logits(x[:, -1])

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 vocabulary logits of the last hidden state ``[batch, d_model]``."""
        return self.proj_out(self.dec_ln(hidden).to(self.decoder_dtype)).float()


@dataclass
class _Cache:
    k: torch.Tensor  # [layers, batch, heads, max_length, head_dim]
    v: torch.Tensor
    cross_k: list[torch.Tensor]  # per layer [1 or batch, heads, 1500, head_dim]
    cross_v: list[torch.Tensor]

    def reorder(self, index: torch.Tensor) -> None:
        self.k = self.k.index_select(1, index)
        self.v = self.v.index_select(1, index)


def to_fast(model, encoder: str = "auto", decoder: str = "int8") -> FastWhisper:
    """Build a ``FastWhisper`` from a float (or dynamic-int8) transformers Whisper model.

    ``encoder="fp32", decoder="fp32"`` keeps full precision: it decodes the same tokens as
    transformers' ``generate`` and is how the decoding loop is checked.
    """
    with torch.no_grad():
        return FastWhisper(model, encoder, decoder)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Rules:
    """Token rules of one decoding: what transformers' logits processors would do."""

    suppress: torch.Tensor  # additive mask, -inf on suppressed tokens
    begin_suppress: torch.Tensor  # extra mask for the first generated token
    eos: int
    timestamps: object | None  # WhisperTimeStampLogitsProcessor when timestamps are on


def _mask(ids, vocab: int) -> torch.Tensor:
    mask = torch.zeros(vocab)
    ids = [i for i in (ids or []) if 0 <= i < vocab]
    mask[ids] = -math.inf
    return mask


def _rules(fast: FastWhisper, prompt_len: int, timestamps: bool) -> _Rules:
    config = fast.generation_config
    vocab = fast.config.vocab_size
    processor = None
    if timestamps:
        from transformers.generation.logits_process import WhisperTimeStampLogitsProcessor

        processor = WhisperTimeStampLogitsProcessor(config, begin_index=prompt_len)
    return _Rules(
        _mask(config.suppress_tokens, vocab),
        _mask(config.begin_suppress_tokens, vocab),
        int(config.eos_token_id),
        processor,
    )


def _process(logits, tokens: torch.Tensor, step: int, rules: _Rules) -> torch.Tensor:
    logits = logits + rules.suppress
    if step == 0:
        logits = logits + rules.begin_suppress
    if rules.timestamps is not None:
        logits = rules.timestamps(tokens, logits)
    return logits


def _greedy(fast: FastWhisper, cache: _Cache, prompt: list[int], rules: _Rules) -> list[int]:
    tokens = torch.tensor([prompt])
    logits = fast.decode(tokens, 0, cache)
    out: list[int] = []
    for step in range(fast.max_length - len(prompt)):
        token = int(_process(logits, tokens, step, rules).argmax(-1))
        out.append(token)
        if token == rules.eos or len(prompt) + len(out) >= fast.max_length:
            break
        next_token = torch.tensor([[token]])
        tokens = torch.cat([tokens, next_token], dim=1)
        logits = fast.decode(next_token, len(prompt) + step, cache)
    return out


def _beam(
    fast: FastWhisper, cache: _Cache, prompt: list[int], rules: _Rules, beams: int
) -> list[int]:
    """Beam search as in openai/whisper: rank finished beams by sum log-prob / length."""
    cache.reorder(torch.zeros(beams, dtype=torch.long))
    tokens = torch.tensor([prompt] * beams)
    scores = torch.zeros(beams)
    scores[1:] = -math.inf  # all beams start identical: expand only the first
    logits = fast.decode(tokens, 0, cache)
    finished: list[tuple[float, list[int]]] = []
    prompt_len = len(prompt)
    for step in range(fast.max_length - prompt_len):
        logprobs = F.log_softmax(_process(logits, tokens, step, rules).float(), dim=-1)
        candidates = (scores[:, None] + logprobs).view(-1)
        top_scores, top_ids = candidates.topk(2 * beams)
        keep_beam, keep_token, keep_score = [], [], []
        for score, flat in zip(top_scores.tolist(), top_ids.tolist(), strict=True):
            if score == -math.inf:
                break
            beam, token = divmod(flat, logprobs.shape[-1])
            if token == rules.eos:
                generated = tokens[beam, prompt_len:].tolist()
                finished.append((score / (len(generated) + 1), generated + [token]))
            else:
                keep_beam.append(beam)
                keep_token.append(token)
                keep_score.append(score)
            if len(keep_beam) == beams:
                break
        if len(finished) >= beams or not keep_beam:
            break
        if prompt_len + step + 1 >= fast.max_length:
            break
        pad = beams - len(keep_beam)  # dead beams keep the batch size fixed
        index = torch.tensor(keep_beam + keep_beam[:1] * pad)
        cache.reorder(index)
        tokens = torch.cat(
            [tokens[index], torch.tensor(keep_token + keep_token[:1] * pad)[:, None]], 1
        )
        scores = torch.tensor(keep_score + [-math.inf] * pad)
        logits = fast.decode(tokens[:, -1:], prompt_len + step, cache)
    if not finished:  # ran out of length: rank the live beams
        for beam in range(tokens.shape[0]):
            generated = tokens[beam, prompt_len:].tolist()
            finished.append((float(scores[beam]) / max(1, len(generated)), generated))
    return max(finished, key=lambda item: item[0])[1]


@contextmanager
def _threads(count: int) -> Iterator[None]:
    before = torch.get_num_threads()
    if count >= before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _run(fast, encoded, prompt, rules, beams) -> list[int]:
    cache = fast.new_cache(1)
    fast.cross(encoded, cache)
    with _threads(fast.decoder_threads):
        if beams == 1:
            return _greedy(fast, cache, prompt, rules)
        return _beam(fast, cache, prompt, rules, beams)


def detect_language(fast: FastWhisper, encoded: torch.Tensor) -> str:
    """ISO code of the most likely language token after ``<|startoftranscript|>``."""
    config = fast.generation_config
    cache = fast.new_cache(1)
    fast.cross(encoded, cache)
    logits = fast.decode(torch.tensor([[config.decoder_start_token_id]]), 0, cache)[0]
    lang_to_id = config.lang_to_id
    ids = torch.tensor(list(lang_to_id.values()))
    best = int(ids[logits[ids].argmax()])
    return {v: k for k, v in lang_to_id.items()}[best].strip("<|>")


def _prompt(fast: FastWhisper, language: str | None, task: str, timestamps: bool) -> list[int]:
    config = fast.generation_config
    prompt = [int(config.decoder_start_token_id)]
    if getattr(config, "is_multilingual", False):
        prompt.append(int(config.lang_to_id[f"<|{language}|>"]))
        prompt.append(int(config.task_to_id[task]))
    if not timestamps:
        prompt.append(int(config.no_timestamps_token_id))
    return prompt


@dataclass
class FastResult:
    tokens: list[int]  # text and timestamp tokens, prompts and end-of-text removed
    language: str | None  # ISO code used (detected or given); None for English-only models
    detected: bool
    windows: int  # 30 s windows decoded


def transcribe_fast(
    fast: FastWhisper,
    mel_filters: np.ndarray,
    audio: np.ndarray,
    *,
    language: str | None = None,
    task: str = "transcribe",
    num_beams: int = 1,
) -> FastResult:
    """Decode 16 kHz mono audio; over 30 s, sequential long-form decoding with timestamps."""
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    long_form = len(audio) > WINDOW_SAMPLES
    features = log_mel(audio, mel_filters, pad_to_window=not long_form)
    detected = False
    with torch.inference_mode():
        if not long_form:
            encoded = fast.encode(features)
            if multilingual and language is None:
                language, detected = detect_language(fast, encoded), True
            prompt = _prompt(fast, language, task, timestamps=False)
            tokens = _run(fast, encoded, prompt, _rules(fast, len(prompt), False), num_beams)
            return FastResult(_strip_eos(tokens, fast), language, detected, 1)
        return _long_form(fast, features, language, task, num_beams)


def _strip_eos(tokens: list[int], fast: FastWhisper) -> list[int]:
    eos = int(fast.generation_config.eos_token_id)
    return tokens[:-1] if tokens and tokens[-1] == eos else tokens


def _window(features: torch.Tensor, seek: int) -> torch.Tensor:
    window = features[:, :, seek : seek + WINDOW_FRAMES]
    if window.shape[-1] < WINDOW_FRAMES:  # zeros in feature space, as transformers pads
        window = F.pad(window, (0, WINDOW_FRAMES - window.shape[-1]))
    return window


def _long_form(fast, features, language, task, num_beams) -> FastResult:
    multilingual = bool(getattr(fast.generation_config, "is_multilingual", False))
    timestamp_begin = int(fast.generation_config.no_timestamps_token_id) + 1
    total = features.shape[-1]
    seek, windows, detected = 0, 0, False
    out: list[int] = []
    bar = tqdm(total=total, unit="frames", desc="transcribing", leave=False)
    while seek < total:
        seek_frames = min(WINDOW_FRAMES, total - seek)
        encoded = fast.encode(_window(features, seek))
        if multilingual and language is None:
            language, detected = detect_language(fast, encoded), True
        prompt = _prompt(fast, language, task, timestamps=True)
        tokens = _strip_eos(
            _run(fast, encoded, prompt, _rules(fast, len(prompt), True), num_beams), fast
        )
        kept, advance = _segments(tokens, timestamp_begin, seek_frames)
        advance = advance if advance > 0 else seek_frames  # never decode one window twice
        out += kept
        bar.update(min(advance, total - seek))
        seek += advance
        windows += 1
    bar.close()
    return FastResult(out, language, detected, windows)


def _segments(tokens: list[int], timestamp_begin: int, seek_frames: int) -> tuple[list[int], int]:
    """Tokens to keep from one window and how many frames to advance (transformers' rules)."""
    is_ts = [t >= timestamp_begin for t in tokens]
    single_ending = is_ts[-2:] == [False, True]
    pairs = [i + 1 for i in range(len(is_ts) - 1) if is_ts[i] and is_ts[i + 1]]
    if pairs:
        if single_ending:
            return tokens, seek_frames
        # Drop the unfinished segment after the last pair; resume at its timestamp.
        last = pairs[-1] + 1
        position = tokens[last - 2] - timestamp_begin
        return tokens[:last], position * INPUT_STRIDE
    return tokens, seek_frames


def mel_filters_of(processor) -> np.ndarray:
    """The mel filter bank ``[n_freqs, n_mels]`` of a Whisper processor."""
    return np.asarray(processor.feature_extractor.mel_filters, dtype=np.float32)


__all__ = [
    "FastResult",
    "FastWhisper",
    "SAMPLE_RATE",
    "detect_language",
    "log_mel",
    "mel_filters_of",
    "native_bf16",
    "to_fast",
    "transcribe_fast",
]

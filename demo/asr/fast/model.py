"""The fast Whisper model: fused, int8 / bf16 layers rebuilt from a transformers model.

On a small CPU the transformers model spends its time in the encoder's fp32 flash attention
and in per-token overhead; here the encoder runs in bf16 on CPUs with native bf16 (AVX512-BF16 /
AMX) with plain batched matmuls and an in-place softmax, or in int8 elsewhere, and the decoder
has fused q/k/v projections, int8 (per-channel, dynamic activations) linears including the
vocabulary projection ``proj_out``, a preallocated KV cache, and cross-attention keys/values
computed once per window. ``to_fast`` turns a loaded float model into a ``FastWhisper``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from demo.measure import at_most_threads, free_threads, spare_cores

# auto: bf16 where the CPU has it natively, else int8. fp16 / bf16 everywhere: for GPUs.
ENCODER_PRECISIONS = ("auto", "bf16", "int8", "fp32", "fp16")
DECODER_PRECISIONS = ("int8", "fp32", "fp16", "bf16")  # fp32 decodes exactly as transformers
# Decoding threads: None decides per decoding (``FastWhisper.decode_threads``). One token at a
# time is little work to share: with two threads on a busy machine every small op waits for a
# thread another process holds, which costs more than the op (measured 20x); on an idle one two
# threads decode 1.3-1.5x faster (tiny.en, 30 s clip, 2-core EPYC). An int fixes the count.
DECODER_THREADS: int | None = None
# From this many sequences decoded together (batched long-form chunks, beams of several
# windows) a step is enough work to share: it runs on every thread.
BATCH_THREADS_FROM = 16
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
    """Float weight and bias of an ``nn.Linear``, a torch dynamic-int8 Linear, or low-rank
    factors (``demo.compress.lowrank``, multiplied out: fused projections need one matrix)."""
    if _factored(linear):
        down, up = _weights(linear.down), _weights(linear.up)
        return up[0] @ down[0], up[1]
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


def _factored(module: nn.Module) -> bool:
    return hasattr(module, "down") and hasattr(module, "up")


def _projection(module: nn.Module, precision: str) -> nn.Module:
    """``_linear`` of a layer that stands alone; low-rank factors stay two thin linears."""
    if _factored(module):
        return nn.Sequential(_projection(module.down, precision), _projection(module.up, precision))
    return _linear(*_weights(module), precision)


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
        self.out = _projection(attn.out_proj, precision)
        self.fc1 = _projection(layer.fc1, precision)
        self.fc2 = _projection(layer.fc2, precision)

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
        self.out = _projection(attn.out_proj, precision)
        self.cross_q = _linear(*_fused(cross.q_proj, scale_first=cross.scaling), precision)
        # Cross keys/values are computed once per window over 1500 positions: a real matmul,
        # done at the encoder's precision.
        self.cross_dtype = _DTYPES[cross_precision]
        self.cross_kv = _linear(*_fused(cross.k_proj, cross.v_proj), cross_precision)
        self.cross_out = _projection(cross.out_proj, precision)
        self.fc1 = _projection(layer.fc1, precision)
        self.fc2 = _projection(layer.fc2, precision)
        # A list while word times are aligned (demo.asr.fast.align): each forward appends its
        # cross-attention weights [batch, heads, n, 1500]. None (no cost) otherwise.
        self.capture: list | None = None

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
        # Several tokens: each sees the ones before it (SDPA's causal mask is exact where they
        # start at 0, the prompt; later, as ``_pair`` decodes two, every earlier position too).
        mask = None
        if length > 1 and start > 0:
            mask = torch.ones(length, end, dtype=torch.bool, device=x.device).tril(start)
        a = F.scaled_dot_product_attention(
            q,
            cache_k[:, :, :end],
            cache_v[:, :, :end],
            attn_mask=mask,
            is_causal=length > 1 and start == 0,
            scale=1.0,
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
        groups = cross_k.shape[0]
        if self.capture is not None:  # scale is folded into q
            self.capture.append((q.float() @ cross_k.float().transpose(-1, -2)).softmax(-1))
        if groups == batch:
            a = F.scaled_dot_product_attention(q, cross_k, cross_v, scale=1.0)
        else:
            # Beams of one window share its keys/values: fold the beams into the query axis
            # (sequences are window-major) rather than expanding the keys, which the
            # attention kernel would copy at every step.
            beams, head_dim = batch // groups, dim // self.heads
            folded = q.reshape(groups, beams, self.heads, length, head_dim).transpose(1, 2)
            folded = folded.reshape(groups, self.heads, beams * length, head_dim)
            a = F.scaled_dot_product_attention(folded, cross_k, cross_v, scale=1.0)
            a = a.view(groups, self.heads, beams, length, head_dim).transpose(1, 2)
            a = a.reshape(batch, self.heads, length, head_dim)
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
        self.batch_threads_from = BATCH_THREADS_FROM  # sequences from which all threads decode
        # Long-form algorithm (demo.asr.fast.transcribe): the exact build decodes as
        # transformers does; every other build cuts at pauses and decodes chunks in batches.
        exact = (encoder, decoder) == ("fp32", "fp32")
        self.long_form = "sequential" if exact else "chunked"
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
        # A factorized projection (demo.compress.lowrank) stays two thin linears: at rank r it
        # reads r/d_model of the bytes, and the projection is most of a small decoder's step.
        self.proj_out = _projection(base.proj_out, decoder)
        self.eval()

    def encode_threads(self) -> int:
        """Intra-op threads for a pass over whole windows (the encoder, the cross-attention
        keys): ``demo.measure.free_threads``. tiny.en's 30 s clip took 2.31 s at two threads
        beside a CPU-bound program, 1.20 s at one (0.68 s at two, idle; 2-core EPYC)."""
        return free_threads()

    def decode_threads(self, sequences: int) -> int:
        """Intra-op threads for decoding ``sequences`` together (0: all of torch's): from
        ``batch_threads_from`` sequences, as ``encode_threads``; else ``decoder_threads`` where
        set; else all where no other process wants the cores right now, one if one does."""
        if sequences >= self.batch_threads_from:
            return self.encode_threads()
        if self.decoder_threads is not None:
            return self.decoder_threads
        spare = spare_cores()
        return 0 if spare is not None and spare >= min(2, torch.get_num_threads()) else 1

    @property
    def max_length(self) -> int:
        return int(self.config.max_target_positions)

    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder output ``[batch, 1500, d_model]`` (fp32) for ``[batch, n_mels, 3000]``, on
        ``encode_threads`` threads."""
        with at_most_threads(self.encode_threads()):
            return self._encode(features)

    def _encode(self, features: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.conv1(features.to(self.compute_dtype)))
        x = F.gelu(self.conv2(x))
        x = x.transpose(1, 2).float() + self.enc_pos[: x.shape[-1]]
        for layer in self.enc_layers:
            x = layer(x)
        return self.enc_ln(x)

    def new_cache(self, batch: int) -> KVCache:
        layers = len(self.dec_layers)
        heads = self.config.decoder_attention_heads
        shape = (layers, batch, heads, self.max_length, self.config.d_model // heads)
        like = {"dtype": self.decoder_dtype, "device": self.dec_pos.device}
        return KVCache(torch.zeros(shape, **like), torch.zeros(shape, **like), [], [])

    def cross(self, encoded: torch.Tensor, cache: KVCache) -> None:
        """Fill ``cache`` with every layer's cross-attention keys and values (on
        ``encode_threads`` threads: a pass over whole windows)."""
        cache.cross_k, cache.cross_v = [], []
        with at_most_threads(self.encode_threads()):
            for layer in self.dec_layers:
                k, v = layer.cross_keys_values(encoded)
                cache.cross_k.append(k)
                cache.cross_v.append(v)

    def decode(
        self,
        tokens: torch.Tensor,
        start: int,
        cache: KVCache,
        first: bool = False,
        every: bool = False,
    ):
        """Logits ``[batch, vocab]`` after ``tokens`` (``[batch, n]`` at positions start...);
        with ``first``, also the logits after the first of them (the no-speech probability
        is read at ``<|startoftranscript|>``): a pair; with ``every``, the logits after each
        token, ``[batch, n, vocab]`` (one projection for all)."""
        length = tokens.shape[1]
        x = self.embed[tokens].float() + self.dec_pos[start : start + length]
        for i, layer in enumerate(self.dec_layers):
            x = layer(x, start, cache.k[i], cache.v[i], cache.cross_k[i], cache.cross_v[i])
        if every:
            return self.logits(x)
        last = self.logits(x[:, -1])
        if not first:
            return last
        return last, (last if length == 1 else self.logits(x[:, 0]))

    def step(self, tokens, position, mask, cache: KVCache) -> torch.Tensor:
        """Logits ``[batch, vocab]`` after one token per sequence (``tokens``: ``[batch, 1]``)
        at ``position`` (a 1-element tensor); see ``_DecoderLayer.step``."""
        x = self.embed[tokens].float() + self.dec_pos.index_select(0, position)
        for i, layer in enumerate(self.dec_layers):
            x = layer.step(
                x, position, mask, cache.k[i], cache.v[i], cache.cross_k[i], cache.cross_v[i]
            )
        return self.logits(x[:, -1])

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """fp32 vocabulary logits of hidden states ``[..., d_model]``."""
        return self.proj_out(self.dec_ln(hidden).to(self.decoder_dtype)).float()


@dataclass
class KVCache:
    """Self-attention keys/values of every sequence, and cross-attention keys/values of every
    window; with beams, sequence ``i`` belongs to window ``i // beams`` (window-major)."""

    k: torch.Tensor  # [layers, sequences, heads, max_length, head_dim]
    v: torch.Tensor
    cross_k: list[torch.Tensor]  # per layer [windows, heads, 1500, head_dim]
    cross_v: list[torch.Tensor]

    def reorder(self, index: list[int], length: int) -> None:
        """Make sequence ``i`` continue sequence ``index[i]``, in place: only the sequences
        that change and only the ``length`` positions written so far are copied."""
        moved = [i for i, source in enumerate(index) if i != source]
        if not moved:
            return
        rows, sources = torch.tensor(moved), torch.tensor([index[i] for i in moved])
        # The right-hand side is gathered before it is written: a swap of two rows is safe.
        self.k[:, rows, :, :length] = self.k[:, sources, :, :length]
        self.v[:, rows, :, :length] = self.v[:, sources, :, :length]

    def select(self, sequences: list[int], windows: list[int], length: int) -> None:
        """Keep only ``sequences`` (and the cross keys/values of ``windows``), in that order;
        the batch shrinks (finished windows of a batch stop costing decode steps)."""
        rows = torch.tensor(sequences)
        self.k, self.v = (self._gather(cache, rows, length) for cache in (self.k, self.v))
        keep = torch.tensor(windows)
        self.cross_k = [k.index_select(0, keep) for k in self.cross_k]
        self.cross_v = [v.index_select(0, keep) for v in self.cross_v]

    @staticmethod
    def _gather(cache: torch.Tensor, rows: torch.Tensor, length: int) -> torch.Tensor:
        shape = list(cache.shape)
        shape[1] = len(rows)
        out = cache.new_empty(shape)
        out[:, :, :, :length] = cache[:, rows, :, :length]
        return out


def to_fast(model, encoder: str = "auto", decoder: str = "int8") -> FastWhisper:
    """Build a ``FastWhisper`` from a float (or dynamic-int8) transformers Whisper model.

    ``encoder="fp32", decoder="fp32"`` keeps full precision: it decodes the same tokens as
    transformers' ``generate`` and is how the decoding loop is checked.
    """
    with torch.no_grad():
        return FastWhisper(model, encoder, decoder)

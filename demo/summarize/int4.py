"""Weight-only int4 decoding of a Llama-shaped LLM on a CPU (quantization modes ``int4*``).

A decode step of a 135M model reads every weight once: 540 MB in fp32, which one core of this
machine gets from DRAM in 50-70 ms, so the step is bound by bytes, not arithmetic. The bundled
SmolLM2 *is* a 4-bit model: its GGUF file stores every linear as Q4_1 (groups of 32 weights
sharing a scale and a minimum) and ``demo.summarize.gguf`` expands them to fp32. Regrouping the
fp32 weights by 32 recovers that grid (min and max of a group are its levels 0 and 15), and
torch's CPU int4 kernel (``_weight_int4pack_mm_for_cpu``: ``w = (q - 8) * scale + zero``) then
reads 4.5 bits a weight. The kernel wants bf16 activations and bf16 scales; rounding the
activations is the larger error, so ``int4`` splits each activation into two bf16 halves (one
call, two rows: the weights are read once) and only ``int4-bf16`` rounds them.

Per decoder block q/k/v are one matmul and gate/up another. The output layer (tied to the
embeddings: 49152 x 576, Q8_0 in the GGUF) runs in int4 too, and its ``HEAD_RECHECK``
highest logits are recomputed in fp32 from the fp32 rows, so the greedy pick among them is
the fp32 one. The prompt still runs through the fp32 model (its keys and values
are exact); this path decodes the new tokens (``demo.summarize.decoding``). What it costs in
ROUGE and buys in tokens/s: README "LLM summarizer".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

GROUP = 32  # weights sharing one scale and zero (the GGUF Q4_1 block)
# Output logits recomputed in fp32. On 621 prompt positions of 3 ACLSum papers the fp32
# argmax was at most 5th in the int4 logits (errors up to ~5 on a ~30 range); 64 rows cost
# ~20 us against ~4 ms for the int4 pass over 49152 rows.
HEAD_RECHECK = 64
ACTIVATIONS = ("split", "bf16")  # how activations enter the bf16 kernel


def _kernels_available() -> bool:
    ops = torch.ops.aten
    return hasattr(ops, "_weight_int4pack_mm_for_cpu") and hasattr(
        ops, "_convert_weight_to_int4pack_for_cpu"
    )


def quantize_int4(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(codes 0..15 ``[N, K]`` int32, scale and zero ``[K / GROUP, N, 2]`` fp32) with
    ``w ~ (code - 8) * scale + zero`` per group of ``GROUP`` inputs; exact on a Q4_1 grid."""
    rows, cols = weight.shape
    groups = weight.detach().float().reshape(rows, cols // GROUP, GROUP)
    low, high = groups.amin(-1), groups.amax(-1)
    scale = (high - low) / 15
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant group: code 0
    codes = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15)
    zero = low + 8 * scale
    scale_zero = torch.stack([scale.T, zero.T], dim=-1).contiguous()
    return codes.reshape(rows, cols).to(torch.int32), scale_zero


class Int4Linear(nn.Module):
    """``x @ W.T + b`` for fp32 ``x`` ``[n, K]`` with ``W`` held as int4 codes."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, activations: str):
        super().__init__()
        codes, scale_zero = quantize_int4(weight)
        self.register_buffer("packed", torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1))
        self.register_buffer("scale_zero", scale_zero.to(torch.bfloat16))
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.split = activations == "split"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One row ``[1, K]`` (the decode step): fp32 in, fp32 out."""
        if self.split:  # x = high + low, both bf16, as two rows of one call
            rows = x.new_empty((2, x.shape[1]), dtype=torch.bfloat16)
            rows[0].copy_(x[0])
            rows[1].copy_(x[0] - rows[0])
        else:
            rows = x.to(torch.bfloat16)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(rows, self.packed, GROUP, self.scale_zero)
        y = y.sum(0, keepdim=True, dtype=torch.float32)
        return y if self.bias is None else y + self.bias


class RecheckedHead(nn.Module):
    """The output layer in int4 with bf16 inputs, its top ``HEAD_RECHECK`` logits in fp32."""

    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.approximate = Int4Linear(weight, None, "bf16")
        self.register_buffer("exact", weight.detach(), persistent=False)  # the model's own rows

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits ``[vocab]`` (fp32) for one hidden state ``[1, d]``."""
        logits = self.approximate(hidden)[0]
        top = torch.topk(logits, HEAD_RECHECK).indices
        logits[top] = self.exact[top] @ hidden[0]
        return logits


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return F.rms_norm(x, weight.shape, weight, eps)  # one op: a step is ~60 small ops a block


def _cat_bias(*linears) -> torch.Tensor | None:
    if all(linear.bias is None for linear in linears):
        return None
    return torch.cat(
        [
            linear.bias if linear.bias is not None else linear.weight.new_zeros(linear.out_features)
            for linear in linears
        ]
    )


class Int4Block(nn.Module):
    """One decoder block's matmuls in int4: q/k/v fused, o, gate/up fused, down."""

    def __init__(self, layer, activations: str):
        super().__init__()
        attn, mlp = layer.self_attn, layer.mlp
        parts = (attn.q_proj, attn.k_proj, attn.v_proj)
        qkv = torch.cat([p.weight for p in parts])
        self.qkv = Int4Linear(qkv, _cat_bias(*parts), activations)
        self.o = Int4Linear(attn.o_proj.weight, attn.o_proj.bias, activations)
        gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight])
        self.gate_up = Int4Linear(gate_up, _cat_bias(mlp.gate_proj, mlp.up_proj), activations)
        self.down = Int4Linear(mlp.down_proj.weight, mlp.down_proj.bias, activations)
        norms = (layer.input_layernorm.weight, layer.post_attention_layernorm.weight)
        self.register_buffer("norm1", norms[0].detach(), persistent=False)  # shared, no copy
        self.register_buffer("norm2", norms[1].detach(), persistent=False)
        self.scaling = attn.scaling
        self.intermediate = mlp.gate_proj.out_features


class Int4Decoder(nn.Module):
    """Decodes one token at a time into ``demo.summarize.decoding``'s KV cache."""

    def __init__(self, base, activations: str = "split"):
        super().__init__()
        if activations not in ACTIVATIONS:
            raise ValueError(f"activations must be one of {', '.join(ACTIVATIONS)}.")
        config = base.config
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // self.heads
        self.eps = config.rms_norm_eps
        self.blocks = nn.ModuleList(Int4Block(layer, activations) for layer in base.model.layers)
        self.head = RecheckedHead(base.lm_head.weight)
        self.register_buffer("embed", base.model.embed_tokens.weight.detach(), persistent=False)
        self.register_buffer("norm", base.model.norm.weight.detach(), persistent=False)
        sign = torch.ones(self.head_dim)
        sign[: self.head_dim // 2] = -1
        self.register_buffer("sign", sign, persistent=False)

    def step(self, token: int, position: int, state) -> torch.Tensor:
        """Logits ``[vocab]`` after ``token`` at ``position``; writes its keys and values."""
        heads, kv_heads, head_dim = self.heads, self.kv_heads, self.head_dim
        half, qk_width = head_dim // 2, (heads + kv_heads) * head_dim
        # rotate_half(q) * sin == (q with its halves swapped) * (sin with its first half negated)
        cos, sin = state.cos[position], state.sin[position] * self.sign
        x = self.embed[token][None]
        for index, block in enumerate(self.blocks):
            y = block.qkv(_rms(x, block.norm1, self.eps))[0]
            qk = y[:qk_width].view(heads + kv_heads, 2, half)
            qk = (qk * cos.view(2, half) + qk.flip(1) * sin.view(2, half)).view(-1, head_dim)
            keys, values = (
                state.k[index, :, :, : position + 1],
                state.v[index, :, :, : position + 1],
            )
            keys[0, :, position] = qk[heads:]
            values[0, :, position] = y[qk_width:].view(kv_heads, head_dim)
            a = F.scaled_dot_product_attention(
                qk[None, :heads, None], keys, values, scale=block.scaling, enable_gqa=True
            )
            x = x + block.o(a.view(1, -1))
            g = block.gate_up(_rms(x, block.norm2, self.eps))
            x = x + block.down(F.silu(g[:, : block.intermediate]) * g[:, block.intermediate :])
        return self.head(_rms(x, self.norm, self.eps))


def apply_int4(model, activations: str = "split"):
    """Attach an ``Int4Decoder`` (as ``int4_decoder``) to a float Llama/Qwen2-shaped model;
    ``demo.summarize.decoding`` then decodes new tokens with it."""
    from demo.errors import QuantizationUnavailableError
    from demo.summarize.decoding import supports_fast

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not supports_fast(model):
        raise QuantizationUnavailableError(
            "The int4 modes need a Llama- or Qwen2-shaped model without sliding-window "
            "attention; pick full or dynamic-int8 for this one."
        )
    if not _kernels_available():
        raise QuantizationUnavailableError(
            f"This torch {torch.__version__} has no CPU int4 kernel; pick full or dynamic-int8."
        )
    linears = [m for m in base.model.layers.modules() if isinstance(m, nn.Linear)]
    widths = {m.in_features for m in linears}
    if any(w % GROUP for w in widths) or not all(m.weight.dtype == torch.float32 for m in linears):
        raise QuantizationUnavailableError(
            f"The int4 modes need fp32 linears whose widths are multiples of {GROUP}; "
            "pick full for this model."
        )
    with torch.no_grad():
        base.int4_decoder = Int4Decoder(base, activations)
    return model

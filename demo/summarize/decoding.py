"""Greedy decoding for decoder-only LMs: a hand-written loop with a preallocated KV cache.

transformers' ``generate`` spends most of a small model's decode step outside the matmuls
(cache objects, mask building, logits processors), so on a CPU a 135M-parameter model
decodes about as fast in int8 as in fp32 there. This loop calls the model's own modules
(norms, projections, rotary embedding, MLP), so it works whatever they hold (fp32, bf16,
torch dynamic int8, bitsandbytes, an unmerged LoRA), writes keys and values into one tensor
per layer, and applies the one token rule the summarizer uses. In fp32 it decodes the same
tokens as ``generate`` (tests/test_llm.py); architectures it doesn't know go to ``generate``
with the same rule. A model loaded in an int4 mode carries an ``int4_decoder``
(``demo.summarize.int4``) that decodes the new tokens after the fp32 prompt pass.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from demo.measure import at_most_threads, free_threads

# Llama-shaped blocks: q/k/v/o projections, rotary embedding, RMSNorm, gated MLP. Qwen2
# adds biases to q/k/v, which live inside the projections, so the same loop runs it.
FAST_ARCHITECTURES = ("llama", "qwen2")


@dataclass(frozen=True)
class DecodeRules:
    """What one greedy decoding may produce."""

    max_new_tokens: int  # longest continuation
    eos_ids: tuple[int, ...]  # tokens that end it (not returned)
    no_repeat_ngram_size: int = 0  # ban repeating an n-gram of the *generated* text (0 = off)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1.")
        if self.no_repeat_ngram_size < 0:
            raise ValueError("no_repeat_ngram_size must be 0 (off) or more.")


@dataclass
class Decoded:
    tokens: list[int]  # generated ids, without the prompt and the final eos
    prompt_tokens: int
    prefill_seconds: float = 0.0  # prompt forward pass and first token
    decode_seconds: float = 0.0  # every later token
    engine: str = "fast"  # "fast" (this loop) or "generate" (transformers)
    stopped: str = field(default="eos")  # "eos" or "length"

    @property
    def steps(self) -> int:
        """Decode steps after the first token (which the prefill produced); the eos is a step."""
        return len(self.tokens) + (self.stopped == "eos") - 1

    @property
    def decode_tokens_per_second(self) -> float:
        steps = self.steps
        return steps / self.decode_seconds if self.decode_seconds > 0 and steps > 0 else 0.0


class _NGramBan:
    """Bans the token that would repeat an n-gram already in the generated text.

    Unlike transformers' ``no_repeat_ngram_size``, which for a decoder-only model also
    counts the prompt, only generated tokens count here: a summary may copy the source's
    phrases (that is what makes it faithful), it may not loop over its own.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.seen: dict[tuple[int, ...], set[int]] = {}

    def banned(self, generated: list[int]) -> list[int]:
        if self.size < 1 or len(generated) < self.size - 1:
            return []
        key = tuple(generated[len(generated) - self.size + 1 :])
        return list(self.seen.get(key, ()))

    def add(self, generated: list[int]) -> None:
        """Record the n-gram that the last generated token completes."""
        if self.size >= 1 and len(generated) >= self.size:
            gram = tuple(generated[-self.size :])
            self.seen.setdefault(gram[:-1], set()).add(gram[-1])

    @classmethod
    def of(cls, size: int, generated: list[int]) -> _NGramBan:
        """The ban after ``generated`` (every n-gram in it recorded)."""
        ban = cls(size)
        for end in range(size, len(generated) + 1):
            gram = tuple(generated[end - size : end])
            ban.seen.setdefault(gram[:-1], set()).add(gram[-1])
        return ban


def _pick(logits: torch.Tensor, ban: _NGramBan, generated: list[int]) -> int:
    banned = ban.banned(generated)
    if banned:
        logits = logits.clone()
        logits[banned] = -float("inf")
    return int(torch.argmax(logits))


def supports_fast(model) -> bool:
    """Whether ``greedy_decode`` can run ``model`` with the hand-written loop."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = getattr(base, "config", None)
    return (
        getattr(config, "model_type", None) in FAST_ARCHITECTURES
        and not getattr(config, "use_sliding_window", False)
        and hasattr(getattr(base, "model", None), "rotary_emb")
    )


def greedy_decode(
    model,
    prompt_ids: list[int],
    rules: DecodeRules,
    *,
    engine: str = "auto",
    embeds: torch.Tensor | None = None,
) -> Decoded:
    """Greedy continuation of ``prompt_ids`` (one sequence) under ``rules``; or, with
    ``embeds`` ``[1, n, d]`` (and ``prompt_ids`` empty), of prompt embeddings: a prompt holding
    vectors no token has (the end-to-end model's speech prefix, ``demo.bridge.e2e``).

    ``engine``: ``fast`` (the loop here), ``generate`` (transformers, same token rule), or
    ``auto`` (fast where ``supports_fast``).
    """
    if engine == "auto":
        engine = "fast" if supports_fast(model) else "generate"
    if engine not in ("fast", "generate"):
        raise ValueError(f"engine must be auto, fast or generate, not {engine!r}.")
    # On the threads other processes leave free (demo.measure.free_threads): all of them on a
    # quiet machine, where two threads decode int4 1.4x faster than one (README "LLM
    # summarizer"); fewer beside a busy program, whose core would stall every step.
    with at_most_threads(free_threads()), torch.inference_mode():
        if engine == "fast":
            return _fast_decode(model, prompt_ids, rules, embeds)
        return _generate(model, prompt_ids, rules, embeds)


class _LoopState:
    """Keys, values and rotary tables for one sequence of up to ``length`` positions."""

    def __init__(self, base, length: int, device, dtype) -> None:
        config = base.config
        heads = config.num_attention_heads
        self.kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        layers = len(base.model.layers)
        shape = (layers, 1, self.kv_heads, length, self.head_dim)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        positions = torch.arange(length, device=device)[None]
        like = torch.zeros((), device=device, dtype=dtype)
        cos, sin = base.model.rotary_emb(like, positions)
        self.cos, self.sin = cos[0], sin[0]  # [length, head_dim], in the model's dtype


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def _layer(layer, index: int, x, start: int, rotary, state: _LoopState) -> torch.Tensor:
    """One decoder block on ``x`` ``[1, n, d]`` at positions ``start...``, filling the cache;
    ``rotary`` is the (cos, sin) of those positions."""
    attn = layer.self_attn
    length = x.shape[1]
    end = start + length
    h = layer.input_layernorm(x)
    q = attn.q_proj(h).view(1, length, -1, state.head_dim).transpose(1, 2)
    k = attn.k_proj(h).view(1, length, state.kv_heads, state.head_dim).transpose(1, 2)
    v = attn.v_proj(h).view(1, length, state.kv_heads, state.head_dim).transpose(1, 2)
    cos, sin = rotary
    q = q * cos + _rotate_half(q) * sin
    k = k * cos + _rotate_half(k) * sin
    cache_k, cache_v = state.k[index], state.v[index]
    cache_k[:, :, start:end] = k
    cache_v[:, :, start:end] = v
    # The prompt always starts at position 0, so the causal mask is exact for it; a single
    # new token attends to everything written so far.
    a = F.scaled_dot_product_attention(
        q,
        cache_k[:, :, :end],
        cache_v[:, :, :end],
        is_causal=length > 1,
        scale=attn.scaling,
        enable_gqa=True,
    )
    x = x + attn.o_proj(a.transpose(1, 2).reshape(1, length, -1))
    return x + layer.mlp(layer.post_attention_layernorm(x))


def _forward(base, ids: torch.Tensor, start: int, state: _LoopState) -> torch.Tensor:
    """Logits ``[vocab]`` (fp32) after ``ids`` ``[1, n]`` placed at positions ``start...``."""
    return _forward_embeds(base, base.model.embed_tokens(ids), start, state)


def _forward_embeds(base, x: torch.Tensor, start: int, state: _LoopState) -> torch.Tensor:
    """``_forward`` from input embeddings ``[1, n, d]`` (a speech prefix among them)."""
    end = start + x.shape[1]
    rotary = (state.cos[start:end], state.sin[start:end])
    for index, layer in enumerate(base.model.layers):
        x = _layer(layer, index, x, start, rotary, state)
    hidden = base.model.norm(x[:, -1:])
    return base.lm_head(hidden)[0, -1].float()


def _model_dtype(base) -> torch.dtype:
    # A bitsandbytes or dynamic-int8 model computes in the dtype its norms are held in.
    return base.model.norm.weight.dtype


def _fast_decode(
    model, prompt_ids: list[int], rules: DecodeRules, embeds: torch.Tensor | None = None
) -> Decoded:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    device = base.model.embed_tokens.weight.device
    length = len(prompt_ids) if embeds is None else embeds.shape[1]
    state = _LoopState(base, length + rules.max_new_tokens, device, _model_dtype(base))
    ban = _NGramBan(rules.no_repeat_ngram_size)
    generated: list[int] = []
    eos = set(rules.eos_ids)
    started = time.perf_counter()
    if embeds is None:
        logits = _forward(base, torch.tensor([prompt_ids], device=device), 0, state)
    else:  # prefill uses every thread
        logits = _forward_embeds(base, embeds.to(device, _model_dtype(base)), 0, state)
    token = _pick(logits, ban, generated)
    prefill = time.perf_counter() - started
    started = time.perf_counter()
    # The int4 modes attach a weight-only int4 decoder (demo.summarize.int4): the prompt ran
    # through the float model above, new tokens go through it.
    int4 = getattr(base, "int4_decoder", None)

    def step(token: int, generated: list[int]) -> int:
        position = length + len(generated) - 1
        ban.add(generated)
        if int4 is not None:
            logits = int4.step(token, position, state)
        else:
            logits = _forward(base, torch.tensor([[token]], device=device), position, state)
        return _pick(logits, ban, generated)

    generated, stopped = greedy_loop(token, step, eos, rules.max_new_tokens)
    return Decoded(generated, length, prefill, time.perf_counter() - started, "fast", stopped)


def greedy_loop(token: int, step, stops, budget: int) -> tuple[list[int], str]:
    """New tokens from ``token`` on, ``step(token, tokens so far)`` giving each next one, until
    a token of ``stops`` ("eos", not kept) or ``budget`` tokens ("length"): one stopping rule
    for every engine (ours, and the bench's llama.cpp peer)."""
    tokens: list[int] = []
    while token not in stops:
        tokens.append(token)
        if len(tokens) >= budget:
            return tokens, "length"
        token = step(token, tokens)
    return tokens, "eos"


class _GeneratedNGramProcessor:
    """The same n-gram rule as ``_NGramBan`` as a transformers logits processor."""

    def __init__(self, prompt_length: int, size: int) -> None:
        self.prompt_length = prompt_length
        self.size = size

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.size < 1:
            return scores
        for row in range(input_ids.shape[0]):
            generated = input_ids[row, self.prompt_length :].tolist()
            banned = _NGramBan.of(self.size, generated).banned(generated)
            if banned:
                scores[row, banned] = -float("inf")
        return scores


class _FirstTokenClock:
    """A stopping criterion that never stops: it notes when the first new token exists."""

    def __init__(self) -> None:
        self.first: float | None = None

    def __call__(self, input_ids: torch.Tensor, scores, **kwargs) -> torch.Tensor:
        if self.first is None:
            self.first = time.perf_counter()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


def generated_ngram_processor(prompt_length: int, size: int):
    """A transformers logits processor banning repeats of generated n-grams (``size`` 0 = off)
    in sequences whose prompts all end at ``prompt_length`` (left padding)."""
    return _GeneratedNGramProcessor(prompt_length, size)


def _generate(
    model, prompt_ids: list[int], rules: DecodeRules, embeds: torch.Tensor | None = None
) -> Decoded:
    from transformers import LogitsProcessorList, StoppingCriteriaList

    device = next(model.parameters()).device
    if embeds is None:
        ids = torch.tensor([prompt_ids], device=device)
        inputs, length = {"input_ids": ids}, len(prompt_ids)
    else:  # generate returns only the new tokens when it starts from embeddings
        inputs, length = {"inputs_embeds": embeds.to(device)}, 0
    given = next(iter(inputs.values()))
    mask = torch.ones(given.shape[:2], dtype=torch.long, device=device)
    processors = LogitsProcessorList(
        [generated_ngram_processor(length, rules.no_repeat_ngram_size)]
    )
    clock = _FirstTokenClock()
    started = time.perf_counter()
    out = model.generate(
        **inputs,
        attention_mask=mask,
        max_new_tokens=rules.max_new_tokens,
        do_sample=False,
        num_beams=1,
        eos_token_id=list(rules.eos_ids),
        pad_token_id=rules.eos_ids[0],
        logits_processor=processors,
        stopping_criteria=StoppingCriteriaList([clock]),
    )
    ended = time.perf_counter()
    first = clock.first or ended
    tokens = out[0, length:].tolist()
    stopped = "length"
    if tokens and tokens[-1] in rules.eos_ids:
        tokens, stopped = tokens[:-1], "eos"
    prompt_tokens = length if embeds is None else embeds.shape[1]
    return Decoded(tokens, prompt_tokens, first - started, ended - first, "generate", stopped)

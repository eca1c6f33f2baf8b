"""Decoding a window with the fast model: Whisper's token rules, greedy and beam search.

Follows transformers' Whisper generation: the same prompt tokens, suppressed tokens, language
detection on the first window, and ``WhisperTimeStampLogitsProcessor`` for timestamps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from demo.asr.fast.model import FastWhisper, KVCache


@dataclass(frozen=True)
class _Rules:
    """Token rules of one decoding: what transformers' logits processors would do."""

    suppress: torch.Tensor  # additive mask, -inf on suppressed tokens
    begin_suppress: torch.Tensor  # extra mask for the first generated token
    eos: int
    timestamps: object | None  # WhisperTimeStampLogitsProcessor when timestamps are on


def token_mask(ids, vocab: int) -> torch.Tensor:
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
        token_mask(config.suppress_tokens, vocab),
        token_mask(config.begin_suppress_tokens, vocab),
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


def _greedy(fast: FastWhisper, cache: KVCache, prompt: list[int], rules: _Rules) -> list[int]:
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
    fast: FastWhisper, cache: KVCache, prompt: list[int], rules: _Rules, beams: int
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

"""Decoding windows with the fast model: greedy and beam search, prompts, language detection.

Follows transformers' Whisper generation: the same prompt tokens, language detection on the
first window, and the same token rules (``demo.asr.fast.rules``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from demo.asr.fast.model import FastWhisper, KVCache
from demo.asr.fast.rules import Rules, apply_rules
from demo.asr.segments import no_speech_token
from demo.measure import at_most_threads


@dataclass
class Decoded:
    """One window's decoding: its tokens (end-of-text kept) and what the no-speech gate reads
    (``demo.asr.segments.WindowScores``)."""

    tokens: list[int]
    avg_logprob: float  # sum of the chosen tokens' log-probabilities / their count
    sot_logits: torch.Tensor  # [vocab] at <|startoftranscript|>


def _greedy(fast: FastWhisper, cache: KVCache, prompt: list[int], rules: Rules) -> list[Decoded]:
    """Greedy tokens of every window in ``cache`` (one sequence per window), end-of-text kept.

    A window that has ended leaves the batch, so a short chunk costs no steps after its end.
    One window alone, with timestamps, decodes a timestamp that closes a segment together with
    its likely partner (``_pair``).
    """
    windows = cache.cross_k[0].shape[0]
    tokens = torch.tensor([prompt] * windows)
    logits, sot_logits = fast.decode(tokens, 0, cache, first=True)
    rules = rules.heard(sot_logits)
    out: list[list[int]] = [[] for _ in range(windows)]
    logprob = [0.0] * windows
    alive = list(range(windows))  # window of each row
    position = len(prompt)  # where the token chosen next goes
    while True:
        chosen = _choose(logits, tokens, position - len(prompt), rules, alive, out, logprob)
        if position + 1 >= fast.max_length:
            break
        keep = [row for row, window in enumerate(alive) if out[window][-1] != rules.eos]
        tokens = torch.cat([tokens, chosen[:, None]], dim=1)
        if len(keep) < len(alive):
            if not keep:
                break
            cache.select(keep, keep, position)
            tokens, alive, rules = tokens[keep], [alive[row] for row in keep], rules.rows(keep)
        if len(alive) == 1 and _closes(tokens, len(prompt), rules):
            paired = _pair(fast, cache, tokens, position, rules, alive, out, logprob, len(prompt))
            if paired is None:
                break
            tokens, logits = paired
            position += 2
            continue
        logits = fast.decode(tokens[:, -1:], position, cache)
        position += 1
    return [
        Decoded(t, lp / max(1, len(t)), sot_logits[w])
        for w, (t, lp) in enumerate(zip(out, logprob, strict=True))
    ]


def _choose(logits, tokens, step: int, rules: Rules, alive, out, logprob) -> torch.Tensor:
    """Each row's greedy token after ``tokens``, appended to its window's ``out`` with its
    log-probability added to ``logprob``."""
    processed = apply_rules(logits, tokens, step, rules)
    chosen = processed.argmax(-1)
    # log-softmax of the chosen token only, on the logits the rules left (openai/whisper)
    picked = processed.gather(1, chosen[:, None])[:, 0] - processed.float().logsumexp(-1)
    for window, token, lp in zip(alive, chosen.tolist(), picked.tolist(), strict=True):
        out[window].append(token)
        logprob[window] += lp
    return chosen


def _closes(tokens: torch.Tensor, prompt_len: int, rules: Rules) -> bool:
    """Whether the one row's last token is a timestamp that closes a segment (after text):
    Whisper then nearly always writes the same timestamp again to open the next one."""
    if rules.timestamps is None or tokens.shape[1] < prompt_len + 2:
        return False
    begin = rules.timestamps.begin
    return int(tokens[0, -1]) >= begin > int(tokens[0, -2])


def _pair(fast, cache, tokens, position, rules, alive, out, logprob, prompt_len):
    """Decode the closing timestamp at ``position`` and, guessed, the same timestamp after it,
    in one step: the logits after the first say what really follows it; where that is the
    guess, the logits after the second are right too, and one step is saved (a segment's
    timestamps cost one step, not two). Otherwise the token chosen is decoded in the guess's
    place. ``(tokens, logits)`` for the step after, or None when the window has ended."""
    guess = tokens[:, -1:]
    both = fast.decode(torch.cat([guess, guess], 1), position, cache, every=True)
    chosen = _choose(both[:, 0], tokens, position + 1 - prompt_len, rules, alive, out, logprob)
    if int(chosen[0]) == rules.eos or position + 2 >= fast.max_length:
        return None
    tokens = torch.cat([tokens, chosen[:, None]], dim=1)
    if int(chosen[0]) == int(guess[0, 0]):
        return tokens, both[:, 1]
    return tokens, fast.decode(tokens[:, -1:], position + 1, cache)


def top_k(values: torch.Tensor, k: int, block: int = 2048) -> tuple[torch.Tensor, torch.Tensor]:
    """``values.topk(k)`` along the last dim, for a long last dim and a small ``k``.

    torch's CPU topk walks a 259k-long row (5 beams x 51864 tokens) in one thread, several
    milliseconds a decoding step. Here each row is cut into blocks: the ``k`` blocks with the
    highest maxima hold the ``k`` highest values (a value outside them has ``k`` larger block
    maxima above it), so only those blocks are searched. Same values and indices as ``topk``
    where no two values tie.
    """
    rows, length = values.shape
    if length <= 4 * block or k > length // block:
        return values.topk(k)
    full = length - length % block
    blocks = values[:, :full].view(rows, -1, block)
    _, best = blocks.amax(-1).topk(k)  # [rows, k] block numbers
    picked = blocks.gather(1, best[..., None].expand(rows, k, block)).view(rows, k * block)
    tail = values[:, full:]  # the last, partial block is always searched
    top, where = torch.cat([picked, tail], 1).topk(k)
    in_blocks = best.gather(1, (where // block).clamp(max=k - 1)) * block + where % block
    return top, torch.where(where < k * block, in_blocks, where - k * block + full)


def _beam(
    fast: FastWhisper, cache: KVCache, prompt: list[int], rules: Rules, beams: int
) -> list[Decoded]:
    """Beam search as in openai/whisper (finished beams ranked by sum log-prob / length), for
    every window in ``cache`` at once: ``beams`` sequences per window, window-major, sharing
    the window's cross-attention keys/values. A window leaves the batch when it is done."""
    windows = cache.cross_k[0].shape[0]
    prompt_len, vocab = len(prompt), fast.config.vocab_size
    tokens = torch.tensor([prompt] * (windows * beams))
    scores = torch.full((windows, beams), -math.inf)
    scores[:, 0] = 0.0  # all beams start identical: expand only the first
    scores = scores.view(-1)
    logits, sot_logits = fast.decode(tokens, 0, cache, first=True)
    rules = rules.heard(sot_logits)
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(windows)]
    alive = list(range(windows))  # window of each group of `beams` rows
    for step in range(fast.max_length - prompt_len):
        logprobs = F.log_softmax(apply_rules(logits, tokens, step, rules).float(), dim=-1)
        candidates = (scores[:, None] + logprobs).view(len(alive), beams * vocab)
        top_scores, top_ids = top_k(candidates, 2 * beams)
        sources, new_tokens, new_scores, groups = [], [], [], []
        last = prompt_len + step + 1 >= fast.max_length
        for group, window in enumerate(alive):
            keep_row, keep_token, keep_score = [], [], []
            for score, flat in zip(
                top_scores[group].tolist(), top_ids[group].tolist(), strict=True
            ):
                if score == -math.inf:
                    break
                beam, token = divmod(flat, vocab)
                row = group * beams + beam
                if token == rules.eos:
                    generated = tokens[row, prompt_len:].tolist()
                    finished[window].append((score / (len(generated) + 1), generated + [token]))
                else:
                    keep_row.append(row)
                    keep_token.append(token)
                    keep_score.append(score)
                if len(keep_row) == beams:
                    break
            if len(finished[window]) >= beams or not keep_row or last:
                if not finished[window]:  # nothing ended: rank the live beams
                    for row in range(group * beams, (group + 1) * beams):
                        generated = tokens[row, prompt_len:].tolist()
                        score = float(scores[row]) / max(1, len(generated))
                        finished[window].append((score, generated))
                continue
            pad = beams - len(keep_row)  # dead beams keep the group size fixed
            sources += keep_row + keep_row[:1] * pad
            new_tokens += keep_token + keep_token[:1] * pad
            new_scores += keep_score + [-math.inf] * pad
            groups.append(group)
        if not groups:
            break
        written = prompt_len + step
        if len(groups) < len(alive):
            cache.select(sources, groups, written)
            alive = [alive[group] for group in groups]
        else:
            cache.reorder(sources, written)
        tokens = torch.cat([tokens[sources], torch.tensor(new_tokens)[:, None]], 1)
        scores, rules = torch.tensor(new_scores), rules.rows(sources)
        logits = fast.decode(tokens[:, -1:], written, cache)
    best = [max(done, key=lambda item: item[0]) for done in finished]
    return [Decoded(t, s, sot_logits[w * beams]) for w, (s, t) in enumerate(best)]


def decode_windows(fast, encoded, prompt, rules, beams: int) -> list[list[int]]:
    """Tokens (end-of-text kept) of every window of ``encoded`` ``[windows, 1500, d]``,
    decoded together: greedy (``beams=1``) or beam search."""
    return [d.tokens for d in decode_scored(fast, encoded, prompt, rules, beams)]


def decode_scored(fast, encoded, prompt, rules, beams: int) -> list[Decoded]:
    """``decode_windows`` with each window's scores for the no-speech gate. ``rules``
    (``demo.asr.fast.rules``) has one row per window."""
    windows = encoded.shape[0]
    cache = fast.new_cache(windows * beams)
    fast.cross(encoded, cache)
    with at_most_threads(fast.decode_threads(windows * beams)):
        if beams == 1:
            return _greedy(fast, cache, prompt, rules)
        return _beam(fast, cache, prompt, rules.repeat(beams), beams)


def _run(fast, encoded, prompt, rules, beams) -> list[int]:
    return decode_windows(fast, encoded, prompt, rules, beams)[0]


def no_speech_prob(fast: FastWhisper, decoded: Decoded) -> float:
    """Probability of ``<|nospeech|>`` at ``<|startoftranscript|>`` (openai/whisper)."""

    probs = decoded.sot_logits.float().softmax(-1)
    return float(probs[no_speech_token(fast.generation_config)])


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


def prompt_tokens(
    fast: FastWhisper, language: str | None, task: str, timestamps: bool
) -> list[int]:
    config = fast.generation_config
    prompt = [int(config.decoder_start_token_id)]
    if getattr(config, "is_multilingual", False):
        prompt.append(int(config.lang_to_id[f"<|{language}|>"]))
        prompt.append(int(config.task_to_id[task]))
    if not timestamps:
        prompt.append(int(config.no_timestamps_token_id))
    return prompt

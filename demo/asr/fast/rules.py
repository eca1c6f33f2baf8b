"""Whisper's token rules for the fast model's decoding, for a batch of rows at once.

What transformers' logits processors do during Whisper generation: suppressed tokens, the
tokens barred at the first step, and the timestamp rules of ``WhisperTimeStampLogitsProcessor``
(``TimestampRule``: the same masks, computed for every row with tensor operations instead of a
Python loop over rows that reads each row's tokens back as a list, about half a millisecond a
decoding step on this CPU). Plus one rule of our own, ``eos_before``: a window Whisper would
end while its audio still holds speech is decoded on (``demo.asr.fast.finish``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from demo.asr.fast.finish import MAX_NO_SPEECH, eos_floor
from demo.asr.fast.model import FastWhisper
from demo.asr.segments import first_timestamp, no_speech_token

NEG_INF = -math.inf


class TimestampRule:
    """``WhisperTimeStampLogitsProcessor(config, begin_index)`` for a batch, vectorised.

    After ``begin_index`` prompt tokens: the first token is a timestamp (at most
    ``max_initial_timestamp_index``); timestamps come in pairs except before end-of-text;
    they never go back; and where the timestamps together are likelier than any one text
    token, a timestamp is written. ``tests/test_fast.py`` checks it against transformers'.
    """

    def __init__(self, generation_config, begin_index: int):
        self.begin_index = begin_index
        self.no_timestamps = int(generation_config.no_timestamps_token_id)
        self.begin = first_timestamp(generation_config)
        self.eos = int(generation_config.eos_token_id or generation_config.bos_token_id)
        self.max_initial = getattr(generation_config, "max_initial_timestamp_index", None)

    def __call__(self, tokens: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``scores`` [rows, vocab] for the token after ``tokens``, masked in place."""
        stamps = scores[:, self.begin :]  # views: every mask is written in place
        text = scores[:, : self.begin]
        scores[:, self.no_timestamps] = NEG_INF
        written = tokens[:, self.begin_index :]
        count = written.shape[1]
        if count == 0:
            text.fill_(NEG_INF)
            if self.max_initial is not None:
                stamps[:, self.max_initial + 1 :] = NEG_INF
        else:
            stamp = written >= self.begin  # [rows, count]
            last = stamp[:, -1]
            before = stamp[:, -2] if count > 1 else torch.ones_like(last)
            opened = last & ~before  # one timestamp: its partner or end-of-text next
            stamps.masked_fill_((last & before)[:, None], NEG_INF)  # a pair closed: text next
            scores[:, : self.eos].masked_fill_(opened[:, None], NEG_INF)
            # timestamps never go back: the last one written (by position), again only to
            # close its pair
            where = (stamp * torch.arange(1, count + 1)).argmax(1, keepdim=True)
            latest = written.gather(1, where)[:, 0] - self.begin
            floor = torch.where(opened, latest, latest + 1).where(stamp.any(1), 0)
            stamps.masked_fill_(torch.arange(stamps.shape[1]) < floor[:, None], NEG_INF)
        # timestamps likelier together than the best text token: write one (the log-softmax
        # normaliser is the same on both sides, so the raw scores compare the same)
        force = stamps.float().logsumexp(-1) > text.float().max(-1).values
        text.masked_fill_(force[:, None], NEG_INF)
        return scores


@dataclass(frozen=True)
class Rules:
    """Token rules of one decoding: what transformers' logits processors would do."""

    suppress: torch.Tensor  # additive mask, -inf on suppressed tokens
    begin_suppress: torch.Tensor  # extra mask for the first generated token
    eos: int
    timestamps: TimestampRule | None  # when timestamps are on
    # Per row: no end-of-text before a timestamp token at least this large (0: no floor);
    # see demo.asr.fast.finish. Rows follow the batch as it shrinks or reorders (``rows``).
    eos_before: torch.Tensor | None = None
    no_speech: int = 0  # <|nospeech|>: the floor is lifted where it is likely (noise)

    def rows(self, index) -> Rules:
        """These rules for the rows ``index`` of the batch (kept or reordered)."""
        if self.eos_before is None:
            return self
        return replace(self, eos_before=self.eos_before[torch.as_tensor(index)])

    def repeat(self, times: int) -> Rules:
        """Each row's rules ``times`` times over (a window's beams)."""
        if self.eos_before is None or times == 1:
            return self
        return replace(self, eos_before=self.eos_before.repeat_interleave(times))

    def heard(self, sot_logits: torch.Tensor) -> Rules:
        """The rules once each row's no-speech probability is known (``sot_logits``): no
        floor where the window may be noise (writing on would invent words)."""
        if self.eos_before is None:
            return self
        no_speech = sot_logits.float().softmax(-1)[:, self.no_speech]
        return replace(self, eos_before=self.eos_before.where(no_speech < MAX_NO_SPEECH, 0))


def token_mask(ids, vocab: int) -> torch.Tensor:
    mask = torch.zeros(vocab)
    ids = [i for i in (ids or []) if 0 <= i < vocab]
    mask[ids] = NEG_INF
    return mask


def timestamp_rules(
    fast: FastWhisper,
    prompt_len: int,
    timestamps: bool,
    spoken_until: list[float | None] | None = None,
) -> Rules:
    """The rules for decoding after a ``prompt_len``-token prompt, with or without timestamps.
    ``spoken_until``: per window, seconds into it where its speech stops (None: unknown);
    with timestamps, each window is decoded on until near there (``demo.asr.fast.finish``)."""
    config = fast.generation_config
    vocab = fast.config.vocab_size
    floors = None
    if timestamps and spoken_until is not None:
        floors = torch.tensor([eos_floor(config, until) for until in spoken_until])
    return Rules(
        token_mask(config.suppress_tokens, vocab),
        token_mask(config.begin_suppress_tokens, vocab),
        int(config.eos_token_id),
        TimestampRule(config, prompt_len) if timestamps else None,
        floors,
        no_speech_token(config),
    )


def apply_rules(logits, tokens: torch.Tensor, step: int, rules: Rules) -> torch.Tensor:
    """``logits`` [rows, vocab] of the next token after ``tokens``, with ``rules`` applied."""
    logits = logits + rules.suppress
    if step == 0:
        logits = logits + rules.begin_suppress
    if rules.timestamps is not None:  # a new tensor by now: masked in place
        logits = rules.timestamps(tokens, logits)
    if rules.eos_before is not None:  # timestamps rise, and are the largest token ids
        early = tokens.max(dim=1).values < rules.eos_before
        logits[early, rules.eos] = NEG_INF
    return logits

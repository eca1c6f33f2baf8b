"""The end-to-end speech -> summary model (stage 2b): frozen Whisper encoder -> Q-Former ->
projection -> frozen SmolLM2 reading the projected queries as a prefix (BLIP-2, SALMONN).

A clip is cut into 30 s windows (``audio_windows``); the frozen encoder reads each window (its
real frames plus a margin, as ``demo.bridge.features`` caches them), the Q-Former turns each
window into Nq query vectors, the bridge's "lm" ``PrefixHead`` (Linear + LayerNorm) maps them
to the LM's hidden size, and the windows' prefixes are concatenated in order: SALMONN's
window-level queries, at Whisper's 30 s window rather than SALMONN's 0.33 s. The prefix sits in
the user turn of the LM's chat template, before the task's instruction (``TASKS``: "e2e-asr"
transcribes, "e2e-summary" summarizes); the answer is the assistant turn.

What trains: the Q-Former's query path (``query_path`` drops its text side and the STCL, STM
and STG heads, which no E2E loss reaches), the queries, the speech LayerNorm, the projection
and, optionally, a LoRA adapter on the LM. Decoding is the summarizer's greedy loop
(``demo.summarize.decoding``) started from embeddings. Saving and loading: ``e2e_io``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from demo.bridge.model import SpeechBridge

LM_HEAD = "lm"
WINDOW_SECONDS = 30.0  # one Whisper window; the encoder reads no more at once
MIN_WINDOW_SECONDS = 1.0  # a shorter tail after a full window is dropped: no word fits in it
SPEECH_SLOT = "<speech>"  # where the prefix goes in the rendered template (never tokenized)
# Task (the training stage) -> the instruction after the speech prefix.
TASKS = {
    "e2e-asr": "Transcribe the speech.",
    "e2e-summary": "Summarize the talk: its challenge, its approach and its outcome.",
}
SUMMARY_TASK = "e2e-summary"
TRANSCRIBE_TASK = "e2e-asr"
# SALMONN puts LoRA on the LLM's query and value projections.
LORA_TARGETS = ("q_proj", "v_proj")
NO_REPEAT_NGRAM = 4  # the summarizer's rule against greedy loops (demo.summarize.llm)


@dataclass(frozen=True)
class E2EConfig:
    """What a saved end-to-end model is (``e2e.json``)."""

    # evaluate() asks any model whether it is encoder-decoder: this one is a causal LM.
    is_encoder_decoder: ClassVar[bool] = False

    encoder: str  # Whisper registry name whose encoder features the Q-Former reads
    lm: str  # summarizer registry name of the frozen LM (smollm2-135m)
    lm_hidden: int  # the LM's hidden size, the projection's output width
    num_queries: int  # Nq per 30 s window
    stage: str  # the task it was last trained on (a TASKS key)
    window_seconds: float = WINDOW_SECONDS
    margin_frames: int = 10  # encoder frames kept after each window's audio (20 ms each)
    lora_rank: int | None = None  # LoRA rank on the LM, None = the LM is untouched
    trained_steps: int = 0  # optimizer steps over every stage
    stages: tuple[str, ...] = ()  # every stage trained, in order
    init: str | None = None  # where the Q-Former started: MiniLM, a bridge or an E2E folder

    def __post_init__(self) -> None:
        if self.stage not in TASKS:
            raise ValueError(f"stage must be one of {', '.join(TASKS)}, not {self.stage!r}.")
        if self.num_queries < 1 or not 0 < self.window_seconds <= WINDOW_SECONDS:
            raise ValueError("num_queries must be >= 1 and window_seconds in (0, 30].")


@dataclass(frozen=True)
class Prompt:
    """The chat template around the speech prefix, as token ids."""

    before: list[int]  # system / user-turn start, up to the prefix
    after: list[int]  # the instruction, end of the user turn, start of the assistant turn


def build_prompt(tokenizer, task: str) -> Prompt:
    """The LM's chat template with the task's instruction and a slot for the speech prefix."""
    messages = [{"role": "user", "content": f"{SPEECH_SLOT}\n{TASKS[task]}"}]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = f"{messages[0]['content']}\n\nAnswer:"
    before, after = text.split(SPEECH_SLOT)
    encode = tokenizer  # the template already holds the special tokens
    return Prompt(
        encode(before, add_special_tokens=False).input_ids,
        encode(after, add_special_tokens=False).input_ids,
    )


def audio_windows(samples: np.ndarray, window_seconds: float = WINDOW_SECONDS) -> list[np.ndarray]:
    """Consecutive windows of 16 kHz audio; a tail under ``MIN_WINDOW_SECONDS`` after a full
    window is dropped."""
    from demo.audio import SAMPLE_RATE

    size = int(window_seconds * SAMPLE_RATE)
    windows = [samples[i : i + size] for i in range(0, max(len(samples), 1), size)]
    if len(windows) > 1 and len(windows[-1]) < MIN_WINDOW_SECONDS * SAMPLE_RATE:
        windows = windows[:-1]
    return windows


def query_path(bridge: SpeechBridge, lm_hidden: int) -> SpeechBridge:
    """Keep only what turns speech into LM prefix vectors: the queries, the speech LayerNorm,
    the Q-Former's self/cross-attention and query feed-forward blocks, and an "lm" head
    (added if missing). The text side and the pre-training heads are removed, in place."""
    bridge.add_head(LM_HEAD, lm_hidden)
    return bridge.keep_query_path(LM_HEAD)


def frozen(module: nn.Module) -> nn.Module:
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module.eval()


class E2EModel(nn.Module):
    """Q-Former (query path) + projection + LM; the frozen encoder only where audio comes in.

    ``forward`` takes a batch of cached window features (``features`` (sum W, T, d),
    ``feature_mask``, ``windows`` (B,) windows per clip) and ``targets`` (B, L) answer ids
    padded with -100, lays out [prompt | prefix | instruction | answer] per clip, right-padded,
    and returns the LM's output with its loss on the answer tokens.
    """

    def __init__(
        self, bridge: SpeechBridge, lm, tokenizer, config: E2EConfig, encoder=None,
        feature_extractor=None,
    ) -> None:  # fmt: skip
        super().__init__()
        if LM_HEAD not in bridge.heads:
            raise ValueError("Give a bridge pruned by query_path (it has no lm head).")
        self.bridge = bridge
        self.lm = lm
        self.encoder = frozen(encoder) if encoder is not None else None
        self.feature_extractor = feature_extractor
        self.tokenizer = tokenizer
        self.config = config
        self._prompts: dict[str, Prompt] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        if self.encoder is not None:
            self.encoder.eval()  # frozen: no dropout, whatever the loop asks
        return self

    @property
    def task(self) -> str:
        return self.config.stage

    def prompt(self, task: str | None = None) -> Prompt:
        task = task or self.task
        if task not in self._prompts:
            self._prompts[task] = build_prompt(self.tokenizer, task)
        return self._prompts[task]

    def footprints_mb(self) -> dict[str, float]:
        """Weights + buffers of the speech side (encoder, Q-Former, projection) and the LM."""
        from demo.measure import weights_footprint_mb

        speech = weights_footprint_mb(self.bridge)
        if self.encoder is not None:
            speech += weights_footprint_mb(self.encoder)
        return {"speech": speech, "lm": weights_footprint_mb(self.lm)}

    # ------------------------------------------------------------------------ prefixes

    def prefixes(self, features, feature_mask, windows) -> list[torch.Tensor]:
        """Each clip's prefix: its windows' Nq projected queries, in order (W_i * Nq, hidden)."""
        queries = self.bridge.project(LM_HEAD, features, feature_mask)
        counts = [int(w) for w in windows]
        if sum(counts) != queries.shape[0]:
            raise ValueError(f"windows add up to {sum(counts)}, features hold {queries.shape[0]}.")
        return [q.reshape(-1, q.shape[-1]) for q in torch.split(queries, counts)]

    @torch.no_grad()
    def encode_audio(self, samples: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """One clip's window features for ``prefixes``: (features, mask, [windows])."""
        from demo.bridge.features import encode_clips

        if self.encoder is None:
            raise ValueError("This E2E model was built without its speech encoder.")
        windows = audio_windows(samples, self.config.window_seconds)
        reader = SimpleNamespace(feature_extractor=self.feature_extractor)  # a processor's part
        features, mask = encode_clips(self.encoder, reader, windows, self.config.margin_frames)
        return features, mask, [len(windows)]

    # ------------------------------------------------------------------------ training

    def _embed(self, ids: list[int] | torch.Tensor) -> torch.Tensor:
        embeddings = self.lm.get_input_embeddings()
        ids = torch.as_tensor(ids, dtype=torch.long, device=embeddings.weight.device)
        return embeddings(ids)

    def full_labels(self, windows, targets: torch.Tensor) -> torch.Tensor:
        """Labels over the whole laid-out sequence: -100 but on the answer tokens."""
        prompt = self.prompt()
        starts = [len(prompt.before) + int(w) * self.config.num_queries + len(prompt.after)
                  for w in windows]  # fmt: skip
        lengths = (targets != -100).sum(dim=1).tolist()
        total = max(s + n for s, n in zip(starts, lengths, strict=True))
        labels = targets.new_full((len(starts), total), -100)
        for i, (start, n) in enumerate(zip(starts, lengths, strict=True)):
            labels[i, start : start + n] = targets[i, :n]
        return labels

    def forward(self, features, feature_mask, windows, targets, labels=None, **_unused):
        prompt = self.prompt()
        prefixes = self.prefixes(features, feature_mask, windows)
        before, after = self._embed(prompt.before), self._embed(prompt.after)
        rows = []
        for prefix, target in zip(prefixes, targets, strict=True):
            answer = self._embed(target[target != -100])
            rows.append(torch.cat([before, prefix.to(before.dtype), after, answer]))
        if labels is None:
            labels = self.full_labels(windows, targets)
        total = labels.shape[1]
        hidden = before.shape[-1]
        embeds = before.new_zeros(len(rows), total, hidden)
        mask = torch.zeros(len(rows), total, dtype=torch.long, device=before.device)
        for i, row in enumerate(rows):
            embeds[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return self.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels, use_cache=False)

    # ------------------------------------------------------------------------ generation

    def prompt_embeds(self, prefix: torch.Tensor, task: str | None = None) -> torch.Tensor:
        """[prompt | prefix | instruction] as (1, L, hidden), ready for greedy decoding."""
        prompt = self.prompt(task)
        before, after = self._embed(prompt.before), self._embed(prompt.after)
        return torch.cat([before, prefix.to(before.dtype), after])[None]

    @torch.no_grad()
    def generate(
        self, features, feature_mask, windows, *, task: str | None = None,
        max_new_tokens: int = 128, engine: str = "auto",
    ) -> list[str]:  # fmt: skip
        """Greedy answers, one per clip (the task's: a transcript or a summary)."""
        from demo.summarize.decoding import DecodeRules, greedy_decode
        from demo.summarize.llm import stop_ids

        rules = DecodeRules(max_new_tokens, stop_ids(self.tokenizer, self.lm), NO_REPEAT_NGRAM)
        texts = []
        for prefix in self.prefixes(features, feature_mask, windows):
            embeds = self.prompt_embeds(prefix, task)
            decoded = greedy_decode(self.lm, [], rules, engine=engine, embeds=embeds)
            texts.append(self.tokenizer.decode(decoded.tokens, skip_special_tokens=True).strip())
        return texts

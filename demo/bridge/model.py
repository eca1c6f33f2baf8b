"""``SpeechBridge``: Q-Former + queries + BLIP-2's heads, its losses, generation, save/load.

What trains: the Q-Former (initialised from MiniLM), the Nq queries, the STCL projections and
temperature, the STM and STG heads, and one ``PrefixHead`` per frozen decoder the queries are
handed to (``heads``: "whisper" for the bottleneck ASR; an LM's hidden size comes next, as
one more entry). The speech encoder and every decoder stay frozen and are not part of it.

A saved bridge is a folder with ``bridge.safetensors`` and ``bridge.json`` (the encoder it
reads, its width, Nq, the Q-Former's shape and the heads); loading it for another encoder
fails with one sentence.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demo.bridge import losses
from demo.bridge.qformer import (
    DEC_TOKEN,
    MINILM_NAME,
    LMHead,
    QFormer,
    QFormerConfig,
    from_minilm,
    generation_mask,
    matching_mask,
    queries_only_mask,
    segment_means,
    text_only_mask,
    text_tokenizer,
)
from demo.errors import DemoError

WEIGHTS_FILE = "bridge.safetensors"
CONFIG_FILE = "bridge.json"
FORMAT = "speech-qformer-bridge"
FORMAT_VERSION = 1
INITIAL_TEMPERATURE = 0.07  # BLIP-2 / CLIP
TEMPERATURE_RANGE = (0.001, 0.5)  # BLIP-2 clamps the learned temperature to this range
OBJECTIVES = ("stcl", "stm", "stg")
# What ``keep_query_path`` removes besides the Q-Former's text side: no query path reads them.
QUERY_PATH_DROPS = ("speech_proj", "text_proj", "stm_head", "lm_head", "temp")


class BridgeError(DemoError):
    """A saved bridge that is missing, damaged, or made for another encoder."""


@dataclass(frozen=True)
class BridgeConfig:
    encoder: str  # Whisper model whose encoder features it reads, e.g. "tiny.en"
    qformer: QFormerConfig  # its shape; qformer.encoder_width is the encoder's d_model
    embed_dim: int = 256  # STCL projection width (BLIP-2: 256)
    heads: dict[str, int] = field(default_factory=dict)  # decoder name -> its width
    text_model: str = MINILM_NAME  # tokenizer and initial weights of the Q-Former
    stg_label_smoothing: float = 0.1  # BLIP-2's LM loss smoothing (training only)
    # A head as wide as the encoder (Whisper's own decoder) adds each query's segment mean
    # frame to its output, and starts at zero: the decoder first reads the speech pooled to
    # Nq frames, and the Q-Former learns what to change (``PrefixHead``).
    shortcut: bool = False
    query_path: bool = False  # pruned by keep_query_path: serving or an E2E model, not training
    base_fingerprint: str | None = None  # the frozen Whisper's (demo.provenance), when exported

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "encoder": self.encoder,
            "encoder_width": self.qformer.encoder_width,
            "num_queries": self.qformer.num_queries,
            "num_layers": self.qformer.num_layers,
            "qformer": self.qformer.to_dict(),
            "embed_dim": self.embed_dim,
            "heads": dict(self.heads),
            "text_model": self.text_model,
            "dec_token": DEC_TOKEN,
            "stg_label_smoothing": self.stg_label_smoothing,
            "shortcut": self.shortcut,
            "query_path": self.query_path,
            "base_fingerprint": self.base_fingerprint,
        }


@dataclass
class BridgeOutput:
    loss: torch.Tensor  # the sum of the chosen objectives
    logits: torch.Tensor | None  # STG logits aligned with the labels (B, L - 1, vocab)
    losses: dict[str, torch.Tensor] = field(default_factory=dict)  # "stcl", "stm", "stg"
    metrics: dict[str, float] = field(default_factory=dict)  # each loss, R@1, STM accuracy


# The rest shape the Q-Former.
_BRIDGE_FIELDS = ("embed_dim", "heads", "stg_label_smoothing", "shortcut")


class PrefixHead(nn.Module):
    """Query outputs -> a frozen decoder's width: Linear + LayerNorm (BLIP-2's LLM proj).
    ``residual``: the LayerNorm's gain starts at zero, so the head first outputs nothing and
    what it adds to (the shortcut's pooled frames) passes through unchanged."""

    def __init__(self, hidden: int, width: int, residual: bool = False) -> None:
        super().__init__()
        self.proj = nn.Linear(hidden, width)
        self.norm = nn.LayerNorm(width)
        if residual:
            nn.init.zeros_(self.norm.weight)

    def forward(self, queries: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(queries))


class SpeechBridge(nn.Module):
    def __init__(self, config: BridgeConfig, qformer: QFormer | None = None) -> None:
        super().__init__()
        self.config = config
        q = config.qformer
        self.qformer = qformer if qformer is not None else QFormer(q)
        self.queries = nn.Parameter(
            torch.randn(1, q.num_queries, q.hidden_size) * q.initializer_range  # N(0, 0.02)
        )
        # A trainable LayerNorm on the frozen features, BLIP-2's ln_vision (SALMONN: ln_speech).
        self.speech_norm = nn.LayerNorm(q.encoder_width)
        self.speech_proj = nn.Linear(q.hidden_size, config.embed_dim)
        self.text_proj = nn.Linear(q.hidden_size, config.embed_dim)
        self.stm_head = nn.Linear(q.hidden_size, 2)
        self.lm_head = LMHead(q)
        self.temp = nn.Parameter(torch.tensor(INITIAL_TEMPERATURE))
        self.heads = nn.ModuleDict({n: self._new_head(w) for n, w in config.heads.items()})

    @classmethod
    def from_minilm(
        cls, encoder: str, encoder_width: int, num_queries: int = 32, **options
    ) -> SpeechBridge:
        """A new bridge: Q-Former from MiniLM (``qformer.from_minilm``), fresh heads.
        ``options``: BridgeConfig fields (embed_dim, heads...) or QFormerConfig ones."""
        own = {k: v for k, v in options.items() if k in _BRIDGE_FIELDS}
        shape = {k: v for k, v in options.items() if k not in _BRIDGE_FIELDS}
        qformer = from_minilm(encoder_width, num_queries, **shape)
        return cls(BridgeConfig(encoder, qformer.config, **own), qformer)

    @property
    def num_queries(self) -> int:
        return self.config.qformer.num_queries

    def add_head(self, name: str, width: int) -> None:
        """A fresh ``PrefixHead`` for one more frozen decoder (kept if it exists already)."""
        if name in self.heads:
            if self.heads[name].proj.out_features != width:
                raise BridgeError(f"The bridge's {name} head is not {width} wide.")
            return
        self.heads[name] = self._new_head(width).to(self.queries.device)
        self.config = replace(self.config, heads={**self.config.heads, name: width})

    def _new_head(self, width: int) -> PrefixHead:
        return PrefixHead(self.config.qformer.hidden_size, width, self._shortcut(width))

    def _shortcut(self, width: int) -> bool:
        """Whether a head this wide adds the pooled frames (only one as wide as the encoder)."""
        return self.config.shortcut and width == self.config.qformer.encoder_width

    # ------------------------------------------------------------------------ passes

    def _speech(self, features: torch.Tensor) -> torch.Tensor:
        """Checked and normalised encoder features, what cross-attention reads."""
        width = self.config.qformer.encoder_width
        if features.shape[-1] != width:
            raise BridgeError(
                f"This bridge reads {self.config.encoder} encoder features ({width} wide), not "
                f"{features.shape[-1]}-wide ones; use the encoder it was trained for."
            )
        return self.speech_norm(features)

    def query_states(self, features: torch.Tensor, feature_mask: torch.Tensor) -> torch.Tensor:
        """The queries after reading the speech: (B, Nq, H). What every decoder receives."""
        return self._query_states(self._speech(features), feature_mask.bool())

    def _query_states(self, speech: torch.Tensor, speech_mask: torch.Tensor) -> torch.Tensor:
        batch = speech.shape[0]
        queries = self.queries.expand(batch, -1, -1)
        mask = queries_only_mask(batch, self.num_queries, speech.device)
        return self.qformer(queries, None, mask, speech, speech_mask)

    def project(self, head: str, features: torch.Tensor, feature_mask: torch.Tensor):
        """Query outputs in a frozen decoder's space (B, Nq, width)."""
        if head not in self.heads:
            raise BridgeError(
                f"This bridge has no {head} head (it has: {', '.join(self.heads) or 'none'}); "
                "train it for that decoder first (train_bridge --stage asr for Whisper)."
            )
        out = self.heads[head](self.query_states(features, feature_mask))
        if self._shortcut(self.config.heads[head]):
            out = out + segment_means(features, feature_mask, self.num_queries)
        return out

    def forward(
        self,
        features: torch.Tensor,
        feature_mask: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        objectives: tuple[str, ...] = OBJECTIVES,
        measure: tuple[str, ...] | None = None,
    ) -> BridgeOutput:
        """The sum of ``objectives`` (STCL, STM, STG) on a batch of (speech features, text).

        ``labels`` are the STG targets, ``input_ids[:, 1:]`` with padding as -100
        (``stg_labels``). ``measure`` names the losses computed (and reported in
        ``metrics``); by default the objectives in training and all three in evaluation, so
        an ablation's runs still report every loss. STCL and STM need two pairs at least; a
        batch of one skips them.
        """
        measured = set(objectives) | set(measure or (objectives if self.training else OBJECTIVES))
        if measured - set(OBJECTIVES) or not objectives:
            raise ValueError(f"objectives must be among {', '.join(OBJECTIVES)}.")
        features = self._speech(features)
        with torch.no_grad():
            self.temp.clamp_(*TEMPERATURE_RANGE)
        feature_mask = feature_mask.bool()
        terms: dict[str, torch.Tensor] = {}
        metrics: dict[str, float] = {"temperature": self.temp.item()}
        logits = None
        if "stg" in measured:
            logits = self._stg_logits(features, feature_mask, input_ids, attention_mask)
            labels = stg_labels(input_ids, attention_mask) if labels is None else labels
            smoothing = self.config.stg_label_smoothing if self.training else 0.0
            terms["stg"] = losses.generation_loss(logits, labels, smoothing)
        if measured & {"stcl", "stm"} and features.shape[0] >= 2:
            terms.update(
                self._contrast_and_match(
                    features, feature_mask, input_ids, attention_mask, measured, metrics
                )
            )
        metrics.update({f"loss_{name}": term.item() for name, term in terms.items()})
        chosen = [terms[name] for name in objectives if name in terms]
        total = torch.stack(chosen).sum() if chosen else self.temp * 0.0
        return BridgeOutput(total, logits, terms, metrics)

    def _stg_logits(self, features, feature_mask, input_ids, attention_mask) -> torch.Tensor:
        """Next-token logits (B, L - 1, vocab), aligned with ``stg_labels``."""
        # BLIP-2: the decoder input is the text with its [CLS] replaced by [DEC].
        decoder_ids = input_ids.clone()
        decoder_ids[:, 0] = _dec_id()
        batch = features.shape[0]
        queries = self.queries.expand(batch, -1, -1)
        mask = generation_mask(self.num_queries, attention_mask)
        hidden = self.qformer(queries, decoder_ids, mask, features, feature_mask)
        text = hidden[:, self.num_queries : -1]  # the last token predicts nothing
        return self.lm_head(text, self.qformer.word_embeddings)

    def _contrast_and_match(
        self, features, feature_mask, input_ids, attention_mask, measured, metrics
    ) -> dict[str, torch.Tensor]:
        terms = {}
        query_out = self._query_states(features, feature_mask)
        speech_feats = F.normalize(self.speech_proj(query_out), dim=-1)
        text_out = self.qformer(None, input_ids, text_only_mask(attention_mask))
        text_feats = F.normalize(self.text_proj(text_out[:, 0]), dim=-1)
        sim = losses.similarities(speech_feats, text_feats, self.temp)
        same = losses.same_text(input_ids, attention_mask)
        terms["stcl"] = losses.contrastive_loss(sim)
        metrics["r_at_1"] = losses.recall_at_1(sim.detach(), same).item()
        if "stm" in measured:
            terms["stm"], accuracy = self._matching(
                features, feature_mask, input_ids, attention_mask, sim, same
            )
            metrics["stm_accuracy"] = accuracy.item()
        return terms

    def _matching(self, features, feature_mask, input_ids, attention_mask, sim, same):
        batch = features.shape[0]
        neg_text, neg_speech = losses.hard_negatives(sim, same, sample=self.training)
        # pos, pos, neg texts against pos, neg, pos speech (LAVIS's order).
        ids = torch.cat([input_ids, input_ids, input_ids[neg_text]])
        text_mask = torch.cat([attention_mask, attention_mask, attention_mask[neg_text]])
        speech = torch.cat([features, features[neg_speech], features])
        speech_mask = torch.cat([feature_mask, feature_mask[neg_speech], feature_mask])
        queries = self.queries.expand(3 * batch, -1, -1)
        mask = matching_mask(self.num_queries, text_mask)
        hidden = self.qformer(queries, ids, mask, speech, speech_mask)
        stm_logits = self.stm_head(hidden[:, : self.num_queries]).mean(dim=1)
        return losses.matching_loss(stm_logits, batch)

    @torch.no_grad()
    def generate_text(
        self, features, feature_mask, tokenizer, max_new_tokens: int = 64
    ) -> list[str]:
        """Greedy STG decoding from the Q-Former's own LM head (no frozen decoder)."""
        batch = features.shape[0]
        features, feature_mask = self._speech(features), feature_mask.bool()
        dec_id = tokenizer.convert_tokens_to_ids(DEC_TOKEN)
        ids = torch.full((batch, 1), dec_id, dtype=torch.long, device=features.device)
        done = torch.zeros(batch, dtype=torch.bool, device=features.device)
        queries = self.queries.expand(batch, -1, -1)
        limit = min(max_new_tokens, self.config.qformer.max_positions - 1)
        for _ in range(limit):
            # Recomputed each step: the queries' states could be cached (BLIP-2 does), but a
            # few dozen short steps at evaluation time don't need it.
            mask = generation_mask(self.num_queries, torch.ones_like(ids))
            hidden = self.qformer(queries, ids, mask, features, feature_mask)
            token = self.lm_head(hidden[:, -1], self.qformer.word_embeddings).argmax(dim=-1)
            token = token.masked_fill(done, tokenizer.pad_token_id)
            ids = torch.cat([ids, token[:, None]], dim=1)
            done |= token == tokenizer.sep_token_id
            if bool(done.all()):
                break
        return [t.strip() for t in tokenizer.batch_decode(ids[:, 1:], skip_special_tokens=True)]

    def keep_query_path(self, head: str) -> SpeechBridge:
        """Keep only what turns speech into ``head``'s prefix vectors: the queries, the speech
        LayerNorm, the Q-Former's self/cross-attention and query feed-forward blocks, and that
        head. The text side and the pre-training heads go, in place (what serving and the E2E
        model need; a third of the weights)."""
        for name in QUERY_PATH_DROPS:
            setattr(self, name, None)
        self.qformer.word_embeddings = None
        self.qformer.position_embeddings = None
        for layer in self.qformer.layers:
            layer.text_ffn = None
        for name in [n for n in self.heads if n != head]:
            del self.heads[name]
        self.config = replace(self.config, heads={head: self.config.heads[head]}, query_path=True)
        return self

    # ------------------------------------------------------------------------ save / load

    def save(self, folder: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Write ``bridge.safetensors`` and ``bridge.json`` into ``folder``; ``dtype`` (fp16)
        halves the file."""
        from safetensors.torch import save_file

        from demo.provenance import write_json_atomic

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            k: v.detach().to("cpu", dtype or v.dtype).contiguous()
            for k, v in self.state_dict().items()
        }
        save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": FORMAT})
        write_json_atomic(folder / CONFIG_FILE, self.config.to_dict())
        return folder


def stg_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """STG targets aligned with its logits: the next token at each position, padding -100."""
    return input_ids[:, 1:].masked_fill(~attention_mask[:, 1:].bool(), losses.IGNORE_INDEX)


def _dec_id() -> int:
    return text_tokenizer().convert_tokens_to_ids(DEC_TOKEN)


def read_bridge_json(path: Path) -> dict[str, Any]:
    """A saved bridge's ``bridge.json`` as a dict (one sentence if it is missing or damaged)."""
    if not path.is_file():
        raise BridgeError(f"{path.parent} has no {CONFIG_FILE}; it is not a saved bridge.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise BridgeError(f"{path} is not a valid bridge config ({exc}).") from exc
    if not isinstance(data, dict):
        raise BridgeError(f"{path} is not a valid bridge config.")
    return data


def read_bridge_config(folder: str | Path) -> BridgeConfig:
    """The ``BridgeConfig`` of a saved bridge folder."""
    path = Path(folder) / CONFIG_FILE
    try:
        return bridge_config_from_dict(read_bridge_json(path))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BridgeError(f"{path} is not a valid bridge config ({exc}).") from exc


def bridge_config_from_dict(data: dict[str, Any]) -> BridgeConfig:
    """The ``BridgeConfig`` that ``BridgeConfig.to_dict`` wrote (ValueError/KeyError if not)."""
    if data.get("format") != FORMAT:
        raise ValueError("not a bridge config")
    return BridgeConfig(
        encoder=data["encoder"],
        qformer=QFormerConfig(**data["qformer"]),
        embed_dim=data["embed_dim"],
        heads={str(k): int(v) for k, v in data["heads"].items()},
        text_model=data.get("text_model", MINILM_NAME),
        stg_label_smoothing=data.get("stg_label_smoothing", 0.1),
        shortcut=data.get("shortcut", False),
        query_path=data.get("query_path", False),
        base_fingerprint=data.get("base_fingerprint"),
    )


def load_bridge(
    folder: str | Path, encoder: str | None = None, device: str = "cpu"
) -> SpeechBridge:
    """Load a saved bridge; with ``encoder``, refuse one trained on another encoder's features."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    config = read_bridge_config(folder)
    if encoder is not None and encoder != config.encoder:
        raise BridgeError(
            f"This bridge was trained on Whisper {config.encoder} encoder features "
            f"(d_model {config.qformer.encoder_width}) and can't read {encoder}'s; train a "
            f"bridge for {encoder} or use {config.encoder}."
        )
    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise BridgeError(f"{folder} has no {WEIGHTS_FILE}; the bridge's weights are missing.")
    try:
        state = load_file(str(weights), device=device)
    except (SafetensorError, OSError) as exc:
        raise BridgeError(f"Can't read {weights}: {exc}.") from exc
    bridge = SpeechBridge(config)
    if config.query_path:  # a fresh bridge pruned the same way first
        bridge.keep_query_path(next(iter(config.heads)))
    try:
        bridge.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise BridgeError(f"{weights} doesn't match its {CONFIG_FILE}; save it again.") from exc
    return bridge.float().to(device).eval()  # an fp16 file computes in fp32, as it trained

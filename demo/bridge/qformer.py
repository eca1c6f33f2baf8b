"""A BERT-style Q-Former (BLIP-2, LAVIS ``Qformer.py``) written out layer by layer.

One sequence holds Nq learned query vectors followed by text tokens. Every layer runs
self-attention over that sequence under a mask that decides who sees whom (``stcl_masks``,
``matching_mask``, ``generation_mask``); every ``cross_attention_freq``-th layer (0, 2, 4 for
6 layers and frequency 2) lets the *queries only* cross-attend to the speech features; then
queries and text go through separate feed-forward blocks (BLIP-2's ``intermediate_query`` /
``output_query``), so the text path stays the language model it started as.

With ``segments`` the cross-attention is local, as in SALMONN's window-level Q-Former but with
the window fitted to the clip: a clip's real frames are cut into Nq equal segments and query i
reads only segment i (and ``segment_overlap`` frames either side), so the queries come out in
the speech's order and each has a place to look from the first step (``segment_mask``).

``from_minilm`` starts it from the bundled all-MiniLM-L6-v2: embeddings, self-attention and
feed-forward weights are copied, the query feed-forward blocks are copies of the text ones,
and the cross-attention layers (keys and values of the encoder's width) start fresh with
BERT's N(0, 0.02) init. MiniLM's token-type embedding (always type 0 in sentence-transformers)
is folded into the position embeddings, so a text-only pass equals MiniLM's hidden states.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn

from demo.errors import DemoError

# The text tokens the STG decoder starts from: BLIP-2 adds a "[DEC]" token and resizes the
# embeddings; BERT's vocabulary already has a thousand unused slots, so one of those is used.
DEC_TOKEN = "[unused0]"
MINILM_NAME = "all-MiniLM-L6-v2"
# MiniLM (HF BertModel) parameter names -> ours, per layer and for the embeddings.
_LAYER_NAMES = {
    "attention.self.query": "self_attention.query",
    "attention.self.key": "self_attention.key",
    "attention.self.value": "self_attention.value",
    "attention.output.dense": "self_attention.dense",
    "attention.output.LayerNorm": "self_attention.norm",
    "intermediate.dense": "text_ffn.up",
    "output.dense": "text_ffn.down",
    "output.LayerNorm": "text_ffn.norm",
}
_EMBEDDING_NAMES = {
    "embeddings.word_embeddings": "word_embeddings",
    "embeddings.position_embeddings": "position_embeddings",
    "embeddings.LayerNorm": "embedding_norm",
}


@dataclass(frozen=True)
class QFormerConfig:
    """The Q-Former's shape; ``from_minilm`` fills the BERT part from MiniLM's config."""

    encoder_width: int  # width of the speech features cross-attention reads (Whisper d_model)
    num_queries: int = 32  # Nq learned query vectors (BLIP-2 32, SparQLe 100)
    hidden_size: int = 384  # BERT width (MiniLM-L6: 384)
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    vocab_size: int = 30522
    max_positions: int = 512  # longest text, in tokens
    cross_attention_freq: int = 2  # cross-attention in layers 0, f, 2f, ...
    dropout: float = 0.1  # hidden and attention-probability dropout (BERT's 0.1)
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02  # std of fresh weights and of the queries
    segments: bool = False  # query i reads only the i-th of Nq equal segments of the speech
    segment_overlap: int = 2  # frames each segment also sees on either side

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError("hidden_size must be a multiple of num_heads.")
        if self.num_queries < 1 or self.cross_attention_freq < 1 or self.encoder_width < 1:
            raise ValueError("num_queries, cross_attention_freq and encoder_width must be >= 1.")
        if self.segment_overlap < 0:
            raise ValueError("segment_overlap must be >= 0.")

    def to_dict(self) -> dict:
        return asdict(self)


class Attention(nn.Module):
    """BERT attention block: multi-head attention, output projection, residual LayerNorm."""

    def __init__(self, config: QFormerConfig, context_width: int) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.num_heads = config.num_heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(context_width, hidden)
        self.value = nn.Linear(context_width, hidden)
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)
        self.attention_dropout = config.dropout

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, -1).transpose(1, 2)

    def forward(self, hidden: torch.Tensor, context: torch.Tensor, mask: torch.Tensor):
        """``mask``: bool, True where a row may attend, broadcastable to (B, 1, rows, keys)."""
        q = self._heads(self.query(hidden))
        k, v = self._heads(self.key(context)), self._heads(self.value(context))
        dropout = self.attention_dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        out = out.transpose(1, 2).reshape(hidden.shape)
        return self.norm(hidden + self.dropout(self.dense(out)))


class FeedForward(nn.Module):
    """BERT intermediate + output: up-project, GELU, down-project, residual LayerNorm."""

    def __init__(self, config: QFormerConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down = nn.Linear(config.intermediate_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.norm(hidden + self.dropout(self.down(F.gelu(self.up(hidden)))))


class QFormerLayer(nn.Module):
    def __init__(self, config: QFormerConfig, index: int) -> None:
        super().__init__()
        self.self_attention = Attention(config, config.hidden_size)
        self.cross_attention = (
            Attention(config, config.encoder_width)
            if index % config.cross_attention_freq == 0
            else None
        )
        self.text_ffn = FeedForward(config)
        self.query_ffn = FeedForward(config)

    def forward(self, hidden, mask, num_queries: int, speech, speech_mask) -> torch.Tensor:
        hidden = self.self_attention(hidden, hidden, mask)
        queries, text = hidden[:, :num_queries], hidden[:, num_queries:]
        if num_queries:
            if self.cross_attention is not None:
                if speech is None:
                    raise ValueError("Queries need speech features to cross-attend to.")
                queries = self.cross_attention(queries, speech, speech_mask[:, None])
            queries = self.query_ffn(queries)
        if text.shape[1]:
            text = self.text_ffn(text)
        return torch.cat([queries, text], dim=1)


class QFormer(nn.Module):
    """Embeddings + layers. ``forward`` takes query vectors and/or text ids and a mask."""

    def __init__(self, config: QFormerConfig) -> None:
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_positions, config.hidden_size)
        self.embedding_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.layers = nn.ModuleList(QFormerLayer(config, i) for i in range(config.num_layers))
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        # BERT's init, which every weight not copied from MiniLM keeps (cross-attention).
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def embed(self, queries: torch.Tensor | None, input_ids: torch.Tensor | None):
        """Queries (as they are) then text (word + position); one LayerNorm over both, as in
        BLIP-2. Text positions start at 0 whether or not queries come first."""
        parts = [] if queries is None else [queries]
        if input_ids is not None:
            if input_ids.shape[1] > self.config.max_positions:
                raise ValueError(f"Text is limited to {self.config.max_positions} tokens.")
            positions = torch.arange(input_ids.shape[1], device=input_ids.device)
            parts.append(self.word_embeddings(input_ids) + self.position_embeddings(positions))
        return self.embedding_dropout(self.embedding_norm(torch.cat(parts, dim=1)))

    def forward(
        self,
        queries: torch.Tensor | None,
        input_ids: torch.Tensor | None,
        mask: torch.Tensor,
        speech: torch.Tensor | None = None,
        speech_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hidden states (B, Nq + L, H). ``mask`` (bool, True = may attend) is (B, rows, keys)
        or (B, 1, keys); ``speech_mask`` (B, T) marks real frames."""
        if speech is not None and speech.shape[-1] != self.config.encoder_width:
            raise DemoError(
                f"The bridge reads speech features {self.config.encoder_width} wide but got "
                f"{speech.shape[-1]}; use features from the encoder it was trained on."
            )
        hidden = self.embed(queries, input_ids)
        num_queries = 0 if queries is None else queries.shape[1]
        mask = mask[:, None]  # one mask for every head
        if speech_mask is not None and num_queries:  # which frames each query reads: (B, Nq, T)
            speech_mask = speech_mask.bool()
            if self.config.segments:
                speech_mask = segment_mask(speech_mask, num_queries, self.config.segment_overlap)
            else:
                speech_mask = speech_mask[:, None, :].expand(-1, num_queries, -1)
        for layer in self.layers:
            hidden = layer(hidden, mask, num_queries, speech, speech_mask)
        return hidden


class LMHead(nn.Module):
    """BERT's LM prediction head; the output matrix is the (tied) word embedding matrix."""

    def __init__(self, config: QFormerConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))
        nn.init.normal_(self.dense.weight, std=config.initializer_range)
        nn.init.zeros_(self.dense.bias)

    def forward(self, hidden: torch.Tensor, word_embeddings: nn.Embedding) -> torch.Tensor:
        return F.linear(self.norm(F.gelu(self.dense(hidden))), word_embeddings.weight, self.bias)


# ----------------------------------------------------------------------------- masks


def segment_bounds(lengths: torch.Tensor, num_segments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end frame (B, Nq) of Nq equal segments of each clip's ``lengths`` real frames;
    every segment holds one frame at least, also when a clip is shorter than Nq frames."""
    fractions = torch.arange(num_segments + 1, device=lengths.device) / num_segments
    edges = (lengths[:, None].float() * fractions).floor().long()
    starts = torch.minimum(edges[:, :-1], (lengths[:, None] - 1).clamp(min=0))
    return starts, torch.maximum(edges[:, 1:], starts + 1)


def segment_mask(speech_mask: torch.Tensor, num_queries: int, overlap: int) -> torch.Tensor:
    """(B, Nq, T) bool: query i reads the i-th of Nq equal segments of the real frames, and
    ``overlap`` frames either side; real frames come first in ``speech_mask`` (B, T)."""
    starts, ends = segment_bounds(speech_mask.sum(dim=1), num_queries)
    frames = torch.arange(speech_mask.shape[1], device=speech_mask.device)
    inside = (frames >= (starts - overlap)[..., None]) & (frames < (ends + overlap)[..., None])
    return inside & speech_mask[:, None, :]


def segment_means(features: torch.Tensor, speech_mask: torch.Tensor, num_queries: int):
    """The mean frame of each of the Nq segments (``segment_mask`` without overlap): (B, Nq, d)."""
    weights = segment_mask(speech_mask.bool(), num_queries, 0).to(features.dtype)
    return weights @ features / weights.sum(dim=-1, keepdim=True).clamp(min=1)


def matching_mask(num_queries: int, text_mask: torch.Tensor) -> torch.Tensor:
    """Bidirectional: every position sees every query and every real text token (B, 1, K)."""
    batch = text_mask.shape[0]
    queries = torch.ones(batch, num_queries, dtype=torch.bool, device=text_mask.device)
    return torch.cat([queries, text_mask.bool()], dim=1)[:, None, :]


def queries_only_mask(batch: int, num_queries: int, device) -> torch.Tensor:
    """Queries alone (the speech side of STCL, and what a decoder reads): (B, 1, Nq)."""
    return torch.ones(batch, 1, num_queries, dtype=torch.bool, device=device)


def text_only_mask(text_mask: torch.Tensor) -> torch.Tensor:
    """Text alone, no queries (the text side of STCL): (B, 1, L)."""
    return text_mask.bool()[:, None, :]


def generation_mask(num_queries: int, text_mask: torch.Tensor) -> torch.Tensor:
    """STG's mask (B, Nq + L, Nq + L): queries see only queries; a text token sees every
    query, itself and earlier real text tokens, never later ones."""
    batch, length = text_mask.shape
    size = num_queries + length
    device = text_mask.device
    mask = torch.zeros(batch, size, size, dtype=torch.bool, device=device)
    mask[:, :num_queries, :num_queries] = True
    mask[:, num_queries:, :num_queries] = True
    causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
    mask[:, num_queries:, num_queries:] = causal & text_mask.bool()[:, None, :]
    return mask


# ----------------------------------------------------------------------------- MiniLM init


@lru_cache(maxsize=1)
def text_tokenizer():
    """MiniLM's (BERT uncased) tokenizer, the Q-Former's text side."""
    from transformers import AutoTokenizer

    from demo.embeddings import minilm_path

    return AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)


def from_minilm(encoder_width: int, num_queries: int = 32, **overrides) -> QFormer:
    """A Q-Former whose BERT part is the bundled all-MiniLM-L6-v2 (see the module docstring)."""
    import json

    from safetensors.torch import load_file

    from demo.embeddings import minilm_path

    path = minilm_path()
    bert = json.loads((path / "config.json").read_text(encoding="utf-8"))
    config = QFormerConfig(
        encoder_width=encoder_width,
        num_queries=num_queries,
        hidden_size=bert["hidden_size"],
        num_layers=bert["num_hidden_layers"],
        num_heads=bert["num_attention_heads"],
        intermediate_size=bert["intermediate_size"],
        vocab_size=bert["vocab_size"],
        max_positions=bert["max_position_embeddings"],
        layer_norm_eps=bert["layer_norm_eps"],
        initializer_range=bert["initializer_range"],
        **overrides,
    )
    model = QFormer(config)
    weights = load_file(str(path / "model.safetensors"))
    ours = model.state_dict()
    copied = {}
    for theirs, mine in _EMBEDDING_NAMES.items():
        for suffix in ("weight", "bias"):
            if f"{theirs}.{suffix}" in weights:
                copied[f"{mine}.{suffix}"] = weights[f"{theirs}.{suffix}"]
    # sentence-transformers always passes token type 0: fold its embedding into the positions.
    copied["position_embeddings.weight"] = (
        weights["embeddings.position_embeddings.weight"]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    for i in range(config.num_layers):
        for theirs, mine in _LAYER_NAMES.items():
            for suffix in ("weight", "bias"):
                value = weights[f"encoder.layer.{i}.{theirs}.{suffix}"]
                copied[f"layers.{i}.{mine}.{suffix}"] = value
                if mine.startswith("text_ffn."):  # BLIP-2: query FFN starts as the text FFN
                    copied[f"layers.{i}.query_ffn.{mine[len('text_ffn.') :]}.{suffix}"] = value
    for name, value in copied.items():
        if ours[name].shape != value.shape:
            raise DemoError(f"MiniLM weight {name} has shape {tuple(value.shape)}; reinstall it.")
    missing = model.load_state_dict(copied, strict=False).missing_keys
    # Only the cross-attention layers start fresh; anything else missing is a mapping bug.
    assert all(".cross_attention." in name for name in missing), missing
    return model

"""Latent-space compression of an encoder-decoder (Alam Falaki & Gras, ICMLA 2022).

An autoencoder learns to squeeze the encoder's output (``d_model`` wide) into a narrower
``latent`` and back. Its encoder half is then appended to the model's encoder, and the decoder
(token embeddings, layers, LM head) is rebuilt at ``d_model = latent`` with the same number of
layers, heads and feed-forward width, so every decoder matrix shrinks and generation gets
cheaper. The paper trains the autoencoder on frozen encoder outputs with MSE, freezes it, then
trains the narrow decoder; it reports on BART -54% inference time, -57% fine-tuning GPU memory
and -4.5% ROUGE-1 (the journal version: decoder 96M -> 40M parameters). Their code is
github.com/AlaFalaki/compressedBART (``architectures.py``); this is a re-implementation for any
transformers encoder-decoder in ``FAMILIES`` (BART, mBART, T5, Whisper).

Differences from their code, on purpose:

- The autoencoder (``demo.compress.autoencoder``) normalises with LayerNorm, not BatchNorm
  over 1024 padded positions, and derives its widths from (d_model, latent).
- Decoder heads: when ``latent`` isn't divisible by the original head count, the largest
  count that divides it is used (``LatentModel.notes`` says so). T5 names its head width
  (``d_kv``); it is set to ``latent / heads`` so the attention stays ``latent`` wide.

The compressed model shares (does not copy) the original encoder module. Never call
``tie_weights`` or ``resize_token_embeddings`` on it: the original tie map points the encoder's
embedding at the narrow one; the wrapper hides ``embed_tokens`` so such a call fails loudly.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from demo.compress.autoencoder import (
    Autoencoder,
    LatentError,
    autoencoder_widths,
    masked_mse,
    read_info,
    save_autoencoder,
)

WEIGHTS_FILE = "model.safetensors"
# The paper's decoding (their main.py): 4 beams and no repeated 3-gram.
PAPER_DECODING = {"num_beams": 4, "no_repeat_ngram_size": 3}
# Batch keys the decoder (or a distillation loss) reads; everything else goes to the encoder.
DECODER_KEYS = frozenset(
    {"labels", "decoder_input_ids", "decoder_attention_mask", "decoder_inputs_embeds",
     "teacher_logits", "use_cache", "past_key_values"}
)  # fmt: skip


@dataclass(frozen=True)
class LatentFamily:
    """How one transformers encoder-decoder is taken apart."""

    model_class: str  # the transformers class (the conditional-generation head)
    encoder_path: str  # attribute path of the encoder inside that class
    heads_keys: tuple[str, ...]  # config fields with attention head counts (all set alike)
    head_dim_key: str | None = None  # T5 states its head width (d_kv) instead of deriving it
    passthrough: tuple[str, ...] = ()  # encoder attributes generation reads (Whisper: convs)


FAMILIES: dict[str, LatentFamily] = {
    "bart": LatentFamily(
        "BartForConditionalGeneration", "model.encoder",
        ("encoder_attention_heads", "decoder_attention_heads"),
    ),
    "mbart": LatentFamily(
        "MBartForConditionalGeneration", "model.encoder",
        ("encoder_attention_heads", "decoder_attention_heads"),
    ),
    "t5": LatentFamily("T5ForConditionalGeneration", "encoder", ("num_heads",), "d_kv"),
    "whisper": LatentFamily(
        "WhisperForConditionalGeneration", "model.encoder",
        ("encoder_attention_heads", "decoder_attention_heads"), passthrough=("conv1", "conv2"),
    ),
}  # fmt: skip


def available_families() -> list[str]:
    """Model types (``config.model_type``) that latent compression knows how to rebuild."""
    return sorted(FAMILIES)


def family_of(config) -> LatentFamily:
    """The ``FAMILIES`` entry for a transformers config, or one clear ``LatentError``."""
    model_type = getattr(config, "model_type", "?")
    if not getattr(config, "is_encoder_decoder", False):
        raise LatentError(
            f"Latent compression needs an encoder-decoder model, and {model_type} is "
            f"decoder-only; use one of: {', '.join(available_families())}."
        )
    if model_type not in FAMILIES:
        raise LatentError(
            f"Latent compression doesn't know how to rebuild {model_type} models yet; "
            f"use one of: {', '.join(available_families())}."
        )
    return FAMILIES[model_type]


# ----------------------------------------------------------------------------- surgery


class LatentEncoder(nn.Module):
    """The original encoder followed by a projection (the autoencoder's encoder half, or the
    whole autoencoder when probing reconstruction). The encoder runs without gradients when
    none of its parameters train."""

    def __init__(self, inner: nn.Module, project: nn.Module, passthrough=(), record=False):
        super().__init__()
        self.inner = inner
        self.project = project
        self.passthrough = tuple(passthrough)
        self.record = record  # keep (target, output, mask) of the last call for a loss
        self.recorded: tuple | None = None
        parameters = inspect.signature(inner.forward).parameters
        self._accepted = None if "kwargs" in parameters else set(parameters)

    @property
    def main_input_name(self) -> str:
        return self.inner.main_input_name

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name in self.__dict__.get("passthrough", ()):
                return getattr(self._modules["inner"], name)
            raise

    def train(self, mode: bool = True):
        super().train(mode)
        if not any(p.requires_grad for p in self.inner.parameters()):
            self.inner.eval()  # a frozen encoder runs without dropout, as it will at inference
        return self

    def encode(self, *args, **kwargs):
        """The original encoder's output (what the autoencoder was trained to reproduce)."""
        from contextlib import nullcontext

        if self._accepted is not None:
            kwargs = {k: v for k, v in kwargs.items() if k in self._accepted}
        frozen = not any(p.requires_grad for p in self.inner.parameters())
        with torch.no_grad() if frozen else nullcontext():
            return self.inner(*args, **kwargs)

    def forward(self, *args, **kwargs):
        from transformers.modeling_outputs import BaseModelOutput

        out = self.encode(*args, **kwargs)
        hidden = out[0]
        projected = self.project(hidden)
        if self.record:
            self.recorded = (hidden, projected, kwargs.get("attention_mask"))
        return BaseModelOutput(
            last_hidden_state=projected,
            hidden_states=getattr(out, "hidden_states", None),
            attentions=getattr(out, "attentions", None),
        )


def get_path(root: nn.Module, path: str) -> nn.Module:
    """The submodule at a dotted attribute path ("model.encoder")."""
    for part in filter(None, path.split(".")):
        root = getattr(root, part)
    return root


def _with_module(root: nn.Module, path: str, new: nn.Module) -> nn.Module:
    """A shallow copy of ``root`` with the module at ``path`` replaced; every other module and
    weight is shared, and ``root`` itself is left as it was."""
    head, _, rest = path.partition(".")
    clone = copy.copy(root)
    clone._modules = dict(root._modules)
    clone._modules[head] = _with_module(root._modules[head], rest, new) if rest else new
    return clone


def narrow_config(config, latent: int):
    """(decoder config at ``d_model = latent``, decoder heads used) for a model config."""
    family = family_of(config)
    heads = getattr(config, family.heads_keys[-1])
    used = max(h for h in range(1, heads + 1) if latent % h == 0)
    new = copy.deepcopy(config)
    new.d_model = latent
    for key in family.heads_keys:
        setattr(new, key, used)
    if family.head_dim_key:
        setattr(new, family.head_dim_key, latent // used)
    return new, used


def decoder_parameters(model) -> int:
    """Parameters outside the encoder (embeddings, decoder layers, LM head; tied ones once),
    for a plain transformers encoder-decoder or a ``LatentModel``."""
    if isinstance(model, LatentModel):
        model = model.model
    prefix = family_of(model.config).encoder_path + "."
    seen: dict[int, int] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        if not name.startswith(prefix):
            seen[id(parameter)] = parameter.numel()
    return sum(seen.values())


def unique_parameters(model: nn.Module) -> int:
    """Every parameter once (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class Distillation:
    """How a narrow decoder learns from the original decoder's logits (when it is given them)."""

    weight: float = 0.0  # share of the KL term in the loss; 1 - weight stays cross-entropy
    temperature: float = 2.0  # softens both distributions; the KL term is scaled by T^2


class LatentModel(nn.Module):
    """An encoder-decoder whose decoder works at the latent width; ``generate`` and
    ``forward`` are the transformers model's (plus an optional distillation term)."""

    def __init__(self, model, autoencoder: Autoencoder, base_config, heads: int, notes=()):
        super().__init__()
        self.model = model
        self.autoencoder = autoencoder
        self.base_config = base_config  # the original model's config
        self.heads = heads  # decoder attention heads at the latent width
        self.notes = list(notes)
        self.distillation = Distillation()

    @property
    def config(self):
        return self.model.config

    @property
    def generation_config(self):
        return self.model.generation_config

    @property
    def latent(self) -> int:
        return self.autoencoder.latent

    def get_base_model(self):
        """The transformers model inside (PEFT's name, which ``demo.asr`` and the tasks use)."""
        return self.model

    @property
    def encoder(self) -> LatentEncoder:
        return get_path(self.model, family_of(self.base_config).encoder_path)

    def forward(self, teacher_logits: torch.Tensor | None = None, **batch):
        out = self.model(**batch)
        weight = self.distillation.weight
        if teacher_logits is None or weight == 0 or batch.get("labels") is None:
            return out
        from demo.compress.distill import soft_target_kl

        t = self.distillation.temperature
        kl = soft_target_kl(out.logits, teacher_logits, batch["labels"], t) * t * t
        out.loss = (1 - weight) * out.loss + weight * kl
        return out

    @torch.no_grad()
    def generate(self, *args, **kwargs):
        return self.model.generate(*args, **kwargs)

    def save_pretrained(self, folder: str | Path, **_ignored) -> Path:
        """``latent.json`` (original config, widths), ``model.safetensors``, generation config;
        the extra keyword arguments of transformers' ``save_pretrained`` are accepted."""
        from safetensors.torch import save_model

        folder = save_autoencoder(
            self.autoencoder,
            folder,
            model_class=type(self.model).__name__,
            base_config=self.base_config.to_dict(),
            heads=self.heads,
            notes=self.notes,
        )
        save_model(self, str(folder / WEIGHTS_FILE))
        self.model.generation_config.save_pretrained(folder)
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> LatentModel:
        """Rebuild a saved ``LatentModel`` from safetensors (no pickles), in eval mode."""
        from safetensors.torch import load_model
        from transformers import CONFIG_MAPPING, GenerationConfig
        from transformers.initialization import no_init_weights

        info = read_info(folder)
        if not (Path(folder) / WEIGHTS_FILE).is_file():
            raise LatentError(f"{folder} holds an autoencoder only, not a compressed model.")
        base = dict(info["base_config"])
        config = CONFIG_MAPPING[base.pop("model_type")].from_dict(base)
        with no_init_weights():  # every value is loaded below
            original = model_class(config)(config)
            latent = compress(original, info["widths"][-1], Autoencoder(tuple(info["widths"])))
        load_model(latent, str(Path(folder) / WEIGHTS_FILE), strict=True)
        latent.model.generation_config = GenerationConfig.from_pretrained(folder)
        return latent.eval()


def model_class(config):
    """The transformers conditional-generation class of a config's family."""
    import transformers

    return getattr(transformers, family_of(config).model_class)


def compress(model, latent: int, autoencoder: Autoencoder | None = None) -> LatentModel:
    """A ``LatentModel`` built around ``model``'s encoder (shared, frozen) with a new decoder
    at width ``latent`` (randomly initialised: it is trained next, as in the paper).

    ``autoencoder``: a trained one (``load_autoencoder``), else a fresh one of the derived
    widths. The original ``model`` is left as it was.
    """
    family = family_of(model.config)
    d_model = model.config.d_model
    widths = autoencoder_widths(d_model, latent)
    autoencoder = autoencoder if autoencoder is not None else Autoencoder(widths)
    if autoencoder.widths[0] != d_model or autoencoder.latent != latent:
        raise LatentError(
            f"The autoencoder maps {autoencoder.widths[0]} -> {autoencoder.latent}, but the model "
            f"is {d_model} wide and the latent asked for is {latent}."
        )
    config, heads = narrow_config(model.config, latent)
    original_heads = getattr(model.config, family.heads_keys[-1])
    notes = []
    if heads != original_heads:
        notes.append(
            f"decoder heads {original_heads} -> {heads}: {latent} is not divisible by "
            f"{original_heads}"
        )
    where = next(model.parameters())
    narrow = model_class(config)(config).to(device=where.device, dtype=where.dtype)
    narrow.tie_weights()  # skipped at construction under no_init_weights (from_pretrained)
    autoencoder = autoencoder.to(device=where.device, dtype=where.dtype)
    inner = get_path(model, family.encoder_path)
    encoder = LatentEncoder(inner, autoencoder.encoder, family.passthrough)
    parent, _, name = family.encoder_path.rpartition(".")
    setattr(get_path(narrow, parent) if parent else narrow, name, encoder)
    narrow.generation_config = copy.deepcopy(model.generation_config)
    for parameter in (*inner.parameters(), *autoencoder.parameters()):
        parameter.requires_grad_(False)
    return LatentModel(narrow, autoencoder, model.config, heads, notes)


class ReconstructionProbe(nn.Module):
    """The original model, frozen, reading its encoder output through the whole autoencoder:
    training minimises the reconstruction MSE (only the autoencoder trains, the decoder isn't
    run); evaluation runs the frozen decoder on the reconstruction and tallies its error."""

    def __init__(self, model, autoencoder: Autoencoder) -> None:
        super().__init__()
        family = family_of(model.config)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.base_config = model.config
        self.autoencoder = autoencoder
        inner = get_path(model, family.encoder_path)
        self.encoder = LatentEncoder(inner, autoencoder, family.passthrough, record=True)
        self.model = _with_module(model, family.encoder_path, self.encoder)
        self.sums = {"sse": 0.0, "sst": 0.0, "values": 0}

    @property
    def config(self):
        return self.model.config

    def get_base_model(self):
        """The transformers model inside, reading the reconstruction."""
        return self.model

    def forward(self, encoder_hidden: torch.Tensor | None = None, **batch):
        """Training: the reconstruction loss only (``encoder_hidden``: the encoder's output,
        precomputed, e.g. cached; else the encoder runs). Evaluation: the model's output on
        the reconstruction, its error tallied for ``pop_scores``."""
        from transformers.modeling_outputs import Seq2SeqLMOutput

        if self.training:  # the decoder's output doesn't enter the loss
            if encoder_hidden is not None:
                mask = batch.get("attention_mask")
                self.encoder.recorded = (encoder_hidden, self.autoencoder(encoder_hidden), mask)
            else:
                self.encoder(**{k: v for k, v in batch.items() if k not in DECODER_KEYS})
            return Seq2SeqLMOutput(loss=self._loss())
        out = self.model(**{k: v for k, v in batch.items() if k != "teacher_logits"})
        self._loss(tally=True)
        return out

    def _loss(self, tally: bool = False) -> torch.Tensor:
        hidden, reconstruction, mask = self.encoder.recorded
        self.encoder.recorded = None
        loss = masked_mse(reconstruction, hidden, mask)
        if tally:
            hidden, reconstruction = hidden.detach(), reconstruction.detach()
            keep = torch.ones(hidden.shape[:2]) if mask is None else mask.to(hidden.dtype)
            keep = keep.to(hidden.device).unsqueeze(-1)
            mean = (hidden * keep).sum((0, 1)) / keep.sum()
            self.sums["sse"] += float(((reconstruction - hidden).pow(2) * keep).sum())
            self.sums["sst"] += float(((hidden - mean).pow(2) * keep).sum())
            self.sums["values"] += int(keep.sum()) * hidden.shape[-1]
        return loss

    def pop_scores(self) -> dict[str, float]:
        """Reconstruction MSE and its share of the encoder output's variance since last call."""
        sums, self.sums = self.sums, {"sse": 0.0, "sst": 0.0, "values": 0}
        if not sums["values"]:
            return {}
        return {
            "reconstruction_mse": sums["sse"] / sums["values"],
            "reconstruction_fvu": sums["sse"] / sums["sst"] if sums["sst"] else None,
        }

    @torch.no_grad()
    def generate(self, *args, **kwargs):
        out = self.model.generate(*args, **kwargs)
        self.encoder.recorded = None
        return out

    def save_pretrained(self, folder: str | Path, **_ignored) -> Path:
        """The autoencoder (what this stage trains), with the base model's type and width."""
        return save_autoencoder(
            self.autoencoder,
            folder,
            model_type=self.base_config.model_type,
            d_model=self.base_config.d_model,
        )

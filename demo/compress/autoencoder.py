"""The autoencoder of latent-space compression: a per-token MLP from ``d_model`` to ``latent``.

Alam Falaki & Gras (ICMLA 2022, github.com/AlaFalaki/compressedBART ``architectures.py``) use
bias-free linear layers ``768 -> 576 -> 480 -> 384`` with ReLU between them and tanh at the
latent, mirrored back, trained with MSE on the frozen encoder's outputs. Here the widths follow
from (d_model, latent), and each linear layer is followed by LayerNorm over the hidden size,
where theirs use BatchNorm1d over the 1024 token positions (which only works when every input
is padded to exactly 1024 tokens). Saved as safetensors plus a ``latent.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from demo.errors import DemoError

LATENT_FILE = "latent.json"
AUTOENCODER_FILE = "autoencoder.safetensors"
FORMAT_VERSION = 1
WIDTH_ALIGN = 8  # hidden widths are rounded to a multiple of this


class LatentError(DemoError):
    """A model, latent size or saved folder that latent compression can't use."""


def autoencoder_widths(d_model: int, latent: int) -> tuple[int, ...]:
    """Widths from ``d_model`` down to ``latent``: half and three quarters of the way, rounded
    to a multiple of 8 (BART-base at 384: 768, 576, 480, 384, as in the paper)."""
    if not 0 < latent < d_model:
        raise LatentError(
            f"The latent size must be between 1 and the model width {d_model - 1}, not {latent}."
        )
    gap = d_model - latent
    widths = [d_model]
    for share in (0.5, 0.75):
        width = int(round((d_model - share * gap) / WIDTH_ALIGN) * WIDTH_ALIGN)
        if latent < width < widths[-1]:
            widths.append(width)
    return (*widths, latent)


def _mlp(widths: tuple[int, ...], last: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)):
        layers += [nn.Linear(a, b, bias=False), nn.LayerNorm(b)]
        final = i == len(widths) - 2
        if not final:
            layers.append(nn.ReLU())
        elif last is not None:
            layers.append(last)
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """Bias-free MLP ``d_model -> ... -> latent`` (tanh) and mirrored back, LayerNorm after
    every linear layer, ReLU between; applied to each token vector independently."""

    def __init__(self, widths: tuple[int, ...]) -> None:
        super().__init__()
        self.widths = tuple(int(w) for w in widths)
        self.encoder = _mlp(self.widths, nn.Tanh())
        self.decoder = _mlp(tuple(reversed(self.widths)), None)

    @property
    def latent(self) -> int:
        return self.widths[-1]

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(hidden))


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask=None) -> torch.Tensor:
    """Mean squared error over the positions ``mask`` keeps (all when None): padding is no
    encoder output the decoder would read."""
    error = (prediction - target).pow(2).mean(dim=-1)
    if mask is None:
        return error.mean()
    mask = mask.to(error.dtype)
    return (error * mask).sum() / mask.sum().clamp(min=1.0)


def save_autoencoder(autoencoder: Autoencoder, folder: str | Path, **facts: Any) -> Path:
    """Write ``autoencoder.safetensors`` and ``latent.json`` (widths plus ``facts``)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in autoencoder.state_dict().items()}
    save_file(state, folder / AUTOENCODER_FILE)
    info = {"format": FORMAT_VERSION, "widths": list(autoencoder.widths), **facts}
    (folder / LATENT_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return folder


def load_autoencoder(folder: str | Path) -> Autoencoder:
    """An autoencoder saved by ``save_autoencoder`` (or inside a saved ``LatentModel``)."""
    from safetensors.torch import load_file

    info = read_info(folder)
    path = Path(folder) / AUTOENCODER_FILE
    if not path.is_file():
        raise LatentError(
            f"{folder} holds no {AUTOENCODER_FILE}; train one with --stage autoencoder."
        )
    autoencoder = Autoencoder(tuple(info["widths"]))
    autoencoder.load_state_dict(load_file(path))
    return autoencoder.eval()


def read_info(folder: str | Path) -> dict[str, Any]:
    """``latent.json`` of a saved autoencoder or compressed model, its format checked."""
    path = Path(folder) / LATENT_FILE
    if not path.is_file():
        raise LatentError(f"{folder} is not a latent-compression folder (no {LATENT_FILE}).")
    info = json.loads(path.read_text())
    if info.get("format") != FORMAT_VERSION:
        raise LatentError(
            f"{path} has format {info.get('format')}; this version reads {FORMAT_VERSION}."
        )
    return info


class PcaProjection(nn.Module):
    """The best linear stand-in for an autoencoder at ``latent`` width: projection onto the
    top principal directions of encoder outputs and back (``(h - mean) Pᵀ P + mean``). A
    reference for the trained autoencoders: no map through ``latent`` dimensions has a smaller
    squared error on the data it was fitted to, so what it loses, an autoencoder of the same
    width trained on MSE loses at least as badly, up to the nonlinear gain."""

    def __init__(self, mean: torch.Tensor, directions: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("directions", directions)  # [latent, d_model], orthonormal rows

    @property
    def latent(self) -> int:
        return int(self.directions.shape[0])

    @classmethod
    def fit(cls, hidden: torch.Tensor, latent: int) -> PcaProjection:
        """Fit on ``hidden`` ``[tokens, d_model]`` (the encoder outputs of some clips)."""
        if not 0 < latent < hidden.shape[-1]:
            raise LatentError(
                f"The latent size must be between 1 and the model width {hidden.shape[-1] - 1}, "
                f"not {latent}."
            )
        hidden = hidden.double()
        mean = hidden.mean(dim=0)
        _, _, vh = torch.linalg.svd(hidden - mean, full_matrices=False)
        return cls(mean.float(), vh[:latent].float().contiguous())

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        centred = hidden - self.mean
        return centred @ self.directions.T @ self.directions + self.mean

"""Semi-orthogonal low-rank factorization of linear layers (Prasad et al., Interspeech 2024).

A fully connected layer ``W`` (d_out x d_in) becomes ``B A``: ``A`` (r x d_in, the ``down``
factor, no bias) is kept semi-orthogonal, ``A Aᵀ = α² I``; ``B`` (d_out x r, the ``up`` factor)
is free and keeps the bias. Both start from the truncated SVD of the trained ``W``: ``A = V_rᵀ``,
``B = U_r Σ_r`` (α = 1, and ``B A`` is the best rank-r approximation of ``W``). While training,
``constrain`` pulls every ``A`` back towards semi-orthogonality every few optimizer steps with
the update of Povey et al. 2018 (Kaldi ``ConstrainOrthonormalInternal``, floating scale):
``P = A Aᵀ``, ``α² = tr(P Pᵀ)/tr(P)``, ``A ← A − 4ν/α² (P − α² I) A``, ν = 1/8, halved when the
eigenvalues of P spread (``r tr(P Pᵀ)/tr(P)² > 1.02``) and halved again above 1.1 (the PyTorch
port in kaldi ``egs/aishell/s10``; Kaldi's C++ halves once).

Which layers, at what ranks, and the record of what was replaced: ``demo.compress.lowrank_config``.
How the factors start (plain, token-weighted or activation-aware SVD):
``demo.compress.lowrank_init``.
Saving a factorized model and rebuilding it on a fresh base: ``demo.compress.lowrank_io``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from demo.compress.lowrank_config import (  # noqa: F401 (the settings, re-exported)
    ATTENTION_TARGETS,
    CALIBRATION_CLIPS,
    CONSTRAIN_EVERY,
    DEFAULT_RANK_FRACTION,
    FFN_TARGETS,
    INITS,
    SLOW_DOWN_ABOVE,
    UPDATE_SPEED,
    Factorization,
    LowRankConfig,
    matches_target,
    parse_targets,
)
from demo.compress.lowrank_init import (  # noqa: F401 (the starts, re-exported)
    RIDGE,
    TOKEN_WEIGHT_FLOOR,
    count_tokens,
    svd_factors,
    token_row_weights,
)
from demo.errors import CompressionError


class LowRankLinear(nn.Module):
    """``up(down(x))``, a rank-r stand-in for an ``nn.Linear``; ``down`` is A, ``up`` is B."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True, **kw):
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.down = nn.Linear(in_features, rank, bias=False, **kw)
        self.up = nn.Linear(rank, out_features, bias=bias, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        rank: int,
        row_weights: torch.Tensor | None = None,
        input_moment: torch.Tensor | None = None,
    ) -> LowRankLinear:
        """The truncated SVD of ``linear`` at ``rank`` (same dtype, device and bias), weighted
        per output row when ``row_weights`` is given and whitened by ``input_moment``
        (``svd_factors``)."""
        weight = linear.weight
        down, up = svd_factors(weight, rank, row_weights, input_moment)
        bias = linear.bias is not None
        # Built on the meta device: no random initialisation of weights about to be replaced.
        module = cls(linear.in_features, linear.out_features, rank, bias, device="meta")
        like = {"dtype": weight.dtype, "device": weight.device}
        trains = weight.requires_grad
        module.down.weight = nn.Parameter(down.to(**like), requires_grad=trains)
        module.up.weight = nn.Parameter(up.to(**like), requires_grad=trains)
        if bias:
            module.up.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=trains)
        return module

    def dense_weight(self) -> torch.Tensor:
        """``B A``, the d_out x d_in matrix this module multiplies by."""
        return linear_weight(self.up) @ linear_weight(self.down)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


class TiedLowRankEmbedding(nn.Module):
    """A token embedding that was tied to a linear now factorized: row ``t`` of ``B A``.

    Whisper's vocabulary projection ``proj_out`` *is* its token embedding (51864 x d_model,
    half of tiny.en's parameters). Factorized, both read the same two factors: the projection
    multiplies by ``B A``, the embedding looks up ``B[t]`` and multiplies by ``A``. The factors
    are held as the projection's own Parameter objects, not registered here, so they are saved,
    trained and counted once, with the projection.
    """

    def __init__(self, projection: LowRankLinear, padding_idx: int | None = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = projection.out_features, projection.in_features
        self.padding_idx = padding_idx
        # Plain attributes: the same Parameters as the projection's (a quantization that swaps
        # the projection's modules later leaves the embedding on the float factors).
        object.__setattr__(self, "_up", linear_weight(projection.up))
        object.__setattr__(self, "_down", linear_weight(projection.down))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self._up, self.padding_idx) @ self._down

    @property
    def weight(self) -> torch.Tensor:
        """The dense table ``B A`` (for code that reads an embedding's weight)."""
        return self._up @ self._down

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, rank={self._down.shape[0]}, tied"


def tied_embeddings(root: nn.Module, linear: nn.Linear) -> list[str]:
    """Paths of the ``nn.Embedding`` modules that share ``linear``'s weight (Whisper's
    ``proj_out`` is ``model.decoder.embed_tokens``); their rows are the vocabulary."""
    return [
        name
        for name, m in root.named_modules()
        if isinstance(m, nn.Embedding) and m.weight is linear.weight
    ]


def replace_linear(root: nn.Module, path: str, module: LowRankLinear) -> list[str]:
    """Put ``module`` at ``path`` in place of the ``nn.Linear`` there, and re-tie every
    ``nn.Embedding`` that shared that linear's weight to the factors; their paths."""
    tied = tied_embeddings(root, root.get_submodule(path))
    _set_module(root, path, module)
    for name in tied:
        embedding = root.get_submodule(name)
        _set_module(root, name, TiedLowRankEmbedding(module, embedding.padding_idx))
    return tied


@torch.no_grad()
def input_moments(model: nn.Module, targets: tuple[str, ...], batches) -> dict[str, torch.Tensor]:
    """``E[x xᵀ]`` of the inputs of every ``targets`` linear layer over ``batches`` (model
    keyword arguments, one example each, so no padding enters), in float64 on CPU, with
    dropout off: what an activation-aware factorization fits the layers to."""
    sums: dict[str, list] = {}
    handles = []
    for name, module in target_linears(unwrap_peft(model), targets):
        width = module.in_features
        sums[name] = [torch.zeros(width, width, dtype=torch.float64), 0]

        def hook(_module, args, key=name):
            x = args[0].detach().reshape(-1, args[0].shape[-1]).to("cpu", torch.float64)
            sums[key][0] += x.T @ x
            sums[key][1] += x.shape[0]

        handles.append(module.register_forward_pre_hook(hook))
    training = model.training
    model.eval()
    try:
        for batch in batches:
            model(**batch)
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    if any(count == 0 for _, count in sums.values()):
        raise CompressionError("The calibration batches never reached every target layer.")
    return {name: total / count for name, (total, count) in sums.items()}


# ----------------------------------------------------------------------------- the constraint


def linear_weight(linear: nn.Module) -> torch.Tensor:
    """The weight of an ``nn.Linear``, or of the base layer under a PEFT LoRA wrapper."""
    return getattr(linear, "base_layer", linear).weight


def unwrap_peft(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def lowrank_modules(model: nn.Module) -> dict[str, LowRankLinear]:
    """Module path (in the transformers model, under any PEFT wrapper) -> its factors."""
    return {n: m for n, m in unwrap_peft(model).named_modules() if isinstance(m, LowRankLinear)}


def _gram(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    m = a.detach().float()
    p = m @ m.T
    return m, p, torch.trace(p), (p * p).sum()  # P is symmetric: tr(P Pᵀ) = sum of squares


@torch.no_grad()
def constrain_matrix(a: torch.Tensor) -> None:
    """One step of ``a`` (r x d, r <= d) towards ``a aᵀ = α² I``, α floating; in place."""
    m, p, trace_p, trace_pp = _gram(a)
    alpha2 = trace_pp / trace_p
    ratio = p.shape[0] * trace_pp / trace_p**2  # >= 1; the excess measures the eigenvalue spread
    speed = UPDATE_SPEED
    for threshold in SLOW_DOWN_ABOVE:
        if ratio > threshold:
            speed *= 0.5
    p.diagonal().sub_(alpha2)
    a.copy_((m - (4 * speed / alpha2) * (p @ m)).to(a.dtype))


def matrix_orthogonality_error(a: torch.Tensor) -> float:
    """``‖P/α² − I‖_F`` with ``P = a aᵀ`` and α² as in the constraint (0 when semi-orthogonal)."""
    _, p, trace_p, trace_pp = _gram(a)
    eye = torch.eye(p.shape[0], dtype=p.dtype, device=p.device)
    return float(torch.linalg.matrix_norm(p / (trace_pp / trace_p) - eye))


@torch.no_grad()
def constrain(model: nn.Module) -> int:
    """One constraint step on every down factor of ``model``; returns how many it moved."""
    modules = lowrank_modules(model)
    for module in modules.values():
        constrain_matrix(linear_weight(module.down))
    return len(modules)


def orthogonality_errors(model: nn.Module) -> dict[str, float]:
    """Module path -> ``‖P/α² − I‖_F`` of its down factor."""
    modules = lowrank_modules(model)
    return {n: matrix_orthogonality_error(linear_weight(m.down)) for n, m in modules.items()}


def orthogonality_error(model: nn.Module) -> float:
    """The largest orthogonality error over the model's down factors (what training logs)."""
    errors = orthogonality_errors(model)
    if not errors:
        raise CompressionError("This model has no low-rank layers; factorize it first.")
    return max(errors.values())


# ----------------------------------------------------------------------------- factorize


def count_parameters(model: nn.Module) -> int:
    """Unique parameters (tied weights count once)."""
    return sum(p.numel() for p in unwrap_peft(model).parameters())


def _d_model(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "d_model", None) or getattr(config, "hidden_size", None)


def target_linears(base: nn.Module, targets: tuple[str, ...]) -> list[tuple[str, nn.Linear]]:
    """``(path, layer)`` of every ``nn.Linear`` that ``targets`` names; refused if none does."""
    found = [
        (name, module)
        for name, module in base.named_modules()
        if isinstance(module, nn.Linear) and matches_target(name, targets)
    ]
    if not found:
        raise CompressionError(
            f"No linear layer named {', '.join(targets)} in this model; "
            f"Whisper's are {', '.join(FFN_TARGETS + ATTENTION_TARGETS)}."
        )
    return found


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def factorize(
    model: nn.Module,
    config: LowRankConfig | None = None,
    token_counts: torch.Tensor | None = None,
    moments: dict[str, torch.Tensor] | None = None,
    token_source: dict[str, Any] | None = None,
) -> tuple[nn.Module, Factorization]:
    """Replace the config's target ``nn.Linear`` layers by their truncated SVD, in place.

    With ``init="token-weighted"`` a target tied to the token embedding (its rows are the
    vocabulary) starts from the SVD weighted by ``token_row_weights(token_counts)``;
    other targets take the plain SVD. ``init="activation-aware"`` weights the vocabulary rows
    the same way (when counts are given) and whitens every target by its inputs' second moment
    (``moments``, from ``input_moments``). Returns the model and the record of what was
    replaced (also kept on the model, for ``save_lowrank``), with ``token_source`` (where
    the counts came from: JSON facts for the reader). ``token_counts`` may be float (general-
    English counts added): the record keeps each as it was. A quantized (bitsandbytes) or
    already factorized model is refused.
    """
    config = config or LowRankConfig()
    weights = None
    if config.init == "token-weighted" and token_counts is None:
        raise CompressionError(
            "A token-weighted factorization needs token counts from the training transcripts."
        )
    if config.init != "svd" and token_counts is not None:
        weights = token_row_weights(token_counts)
    if config.init == "activation-aware" and moments is None:
        raise CompressionError(
            "An activation-aware factorization needs the target layers' input moments from "
            "training clips (demo.compress.lowrank.input_moments)."
        )
    base = unwrap_peft(model)
    if lowrank_modules(base):
        raise CompressionError("This model is factorized already; load a fresh base to redo it.")
    found = target_linears(base, config.targets)
    d_model = _d_model(base)
    before = count_parameters(base)
    modules: dict[str, dict[str, int]] = {}
    for name, linear in tqdm(found, desc="factorizing", unit="layer", leave=False):
        if not linear.weight.is_floating_point():
            raise CompressionError(
                "Low-rank factorization needs float weights; load the base in fp32, fp16 or bf16 "
                "(quantize after factorizing)."
            )
        rank = config.rank_for(d_model, linear, name)
        weighted = weights is not None and bool(tied_embeddings(base, linear))
        moment = None
        if config.init == "activation-aware":
            if name not in moments:
                raise CompressionError(f"No input moment for {name}; calibrate every target.")
            moment = moments[name]
        factors = LowRankLinear.from_linear(linear, rank, weights if weighted else None, moment)
        tied = replace_linear(base, name, factors)
        modules[name] = {"in": linear.in_features, "out": linear.out_features, "rank": rank}
        if tied:  # recorded for the reader; load_lowrank re-ties from the base itself
            modules[name]["tied"] = tied
    counts = None
    if token_counts is not None:
        counts = {int(t): token_counts[t].item() for t in torch.nonzero(token_counts).flatten()}
    kept = None if config.init != "activation-aware" else {n: moments[n] for n in modules}
    source = token_source if token_counts is not None else None
    record = Factorization(config, modules, before, count_parameters(base), counts, kept, source)
    base.lowrank_factorization = record
    return model, record


def factorization_of(model: nn.Module) -> Factorization:
    """The record ``factorize`` or ``load_lowrank`` left on the model."""
    record = getattr(unwrap_peft(model), "lowrank_factorization", None)
    if record is None:
        raise CompressionError("This model has no low-rank layers; factorize it first.")
    return record


def parameter_counts(model: nn.Module, config: LowRankConfig) -> dict[str, Any]:
    """What factorizing ``model`` with ``config`` would leave, counted without doing it."""
    base = unwrap_peft(model)
    before = count_parameters(base)
    after = before
    for name, linear in base.named_modules():
        if isinstance(linear, nn.Linear) and matches_target(name, config.targets):
            rank = config.rank_for(_d_model(base), linear, name)
            after -= linear.in_features * linear.out_features
            after += rank * (linear.in_features + linear.out_features)
    return {
        "params_before": before,
        "params_after": after,
        "reduction_pct": round(100.0 * (1 - after / before), 2),
        "fp32_mb_after": round(after * 4 / 2**20, 1),
    }

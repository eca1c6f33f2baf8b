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

A vocabulary projection tied to the token embedding (Whisper's ``proj_out``) can instead start
from a token-weighted SVD (``init="token-weighted"``): A spans the top singular vectors of
``D W`` with ``D² = diag(count_t + floor)`` from the training transcripts, ``B = W Aᵀ``. Plain SVD
fits the ~50k rows a clip never uses and leaves the few hundred it always uses far off (tiny.en
at 2/3 d: 44% relative error on "the", "of", "and", 44-64% on the prompt and end tokens), so
even the prompt breaks; weighted, those rows are within 0.1-1.5%, and A is still orthonormal.

``init="activation-aware"`` also fits what the layer is used for (SVD-LLM, Wang et al. 2024:
truncation-aware data whitening; ASVD, Yuan et al. 2023): the error is measured on the layer's
outputs, ``‖D (W − BA) X‖`` over the inputs ``X`` it sees on training clips, by the SVD of
``D W L`` with ``L`` the Cholesky factor of the inputs' second moment (``input_moments``).
On the tied projection the inputs are the decoder's last hidden states, so the logits the
decoder actually produces, not all 384 directions alike, keep their precision: tiny.en at
rank 272, untrained, on the 40 validation clips: teacher-forced loss 1.927 against 1.959
token-weighted (the original 1.845), greedy WER 50.5% against 81.3% (49.4%).

Saving a factorized model and rebuilding it on a fresh base: ``demo.compress.lowrank_io``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from demo.errors import CompressionError

FFN_TARGETS = ("fc1", "fc2")
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
# The paper's setting, r = d/4 on fc1/fc2: −24% of Whisper base's parameters, no WER loss after
# fine-tuning (README "Low-rank Whisper" has our counts for tiny.en and base).
DEFAULT_RANK_FRACTION = 0.25
CONSTRAIN_EVERY = 4  # Kaldi constrains on a random 1 in 4 minibatches: "it won't stray far"
UPDATE_SPEED = 0.125  # ν: quadratic convergence near a semi-orthogonal matrix (Povey et al.)
SLOW_DOWN_ABOVE = (1.02, 1.1)  # eigenvalue-spread ratios above which ν is halved (each)
# How factors start: the plain truncated SVD, or (vocabulary rows only) one weighted by how often
# the training transcripts use each token, the floor added to every count.
INITS = ("svd", "token-weighted", "activation-aware")
TOKEN_WEIGHT_FLOOR = 0.01  # tiny.en 2/3 d, untrained, 16 clips: 0.1 -> 71% WER, 0.01 -> 58%
# activation-aware: the inputs' second moment scaled to mean eigenvalue 1, plus RIDGE x I, so
# that directions the clips never use keep a little weight (tiny.en r272 untrained, 40
# validation clips: teacher-forced loss 1.946 at 0, 1.927 at 0.1).
RIDGE = 0.1
CALIBRATION_CLIPS = 256  # training examples whose layer inputs an activation-aware start reads


@dataclass(frozen=True)
class LowRankConfig:
    """Which linear layers to factorize, at what rank, and how training keeps A orthonormal."""

    targets: tuple[str, ...] = FFN_TARGETS  # module names or dotted-path suffixes (as in PEFT)
    rank_fraction: float | None = DEFAULT_RANK_FRACTION  # rank = round(fraction x d_model)
    rank: int | None = None  # one absolute rank for every target; overrides rank_fraction
    orthogonal: bool = True  # keep the down factor semi-orthogonal while training
    constrain_every: int = CONSTRAIN_EVERY  # optimizer steps between two constraint steps
    init: str = "svd"  # one of INITS; "token-weighted" needs token counts (factorize)

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {self.init!r}.")
        if not self.targets or not all(isinstance(t, str) and t for t in self.targets):
            raise ValueError("targets must name at least one module, e.g. ('fc1', 'fc2').")
        if self.rank is None and self.rank_fraction is None:
            raise ValueError("Give a rank_fraction (e.g. 0.25) or an absolute rank.")
        if self.rank is not None and self.rank < 1:
            raise ValueError("rank must be at least 1.")
        if self.rank_fraction is not None and self.rank_fraction <= 0:
            raise ValueError("rank_fraction must be above 0 (0.25 = a quarter of d_model).")
        if self.constrain_every < 1:
            raise ValueError("constrain_every must be at least 1.")

    def rank_for(self, d_model: int | None, linear: nn.Linear) -> int:
        """The rank of one layer; refuses one above the layer's smaller side."""
        if self.rank is not None:
            rank = self.rank
        elif d_model is not None:
            rank = max(1, round(self.rank_fraction * d_model))
        else:  # a model without d_model: the fraction is of the layer's smaller side
            rank = max(1, round(self.rank_fraction * min(linear.in_features, linear.out_features)))
        side = min(linear.in_features, linear.out_features)
        if rank > side:
            most = f" (a rank fraction of at most {side / d_model:g})" if d_model else ""
            raise CompressionError(
                f"Rank {rank} is above {side}, the smaller side of a {linear.out_features} x "
                f"{linear.in_features} layer; pick a rank of at most {side}{most}."
            )
        return rank


@dataclass
class Factorization:
    """What ``factorize`` replaced: the config, each module's shape and rank, parameter counts."""

    config: LowRankConfig
    modules: dict[str, dict[str, int]]  # module path -> {"in", "out", "rank"}
    params_before: int  # unique parameters of the original model
    params_after: int  # and of the factorized one
    # A token-weighted start's counts, token id -> count (zeros left out): with them and the
    # base, the factors are rebuilt exactly, so a LoRA run need not save them.
    token_counts: dict[int, int] | None = None
    # An activation-aware start's input second moments, module path -> d_in x d_in: with the
    # base and the counts they rebuild its factors exactly.
    input_moments: dict[str, torch.Tensor] | None = None

    @property
    def reduction_pct(self) -> float:
        return 100.0 * (1 - self.params_after / self.params_before) if self.params_before else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for run.json's ``extra`` and the saved config."""
        ranks = sorted({m["rank"] for m in self.modules.values()})
        return {
            **asdict(self.config),
            "targets": list(self.config.targets),
            "modules": len(self.modules),
            "ranks": ranks,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "reduction_pct": round(self.reduction_pct, 2),
        }


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
        return _weight(self.up) @ _weight(self.down)

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
        object.__setattr__(self, "_up", _weight(projection.up))
        object.__setattr__(self, "_down", _weight(projection.down))

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


def svd_factors(
    weight: torch.Tensor,
    rank: int,
    row_weights: torch.Tensor | None = None,
    input_moment: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(A, B)`` with ``A = V_rᵀ`` (orthonormal rows) and ``B = U_r Σ_r``, in float64 on CPU.

    With ``row_weights`` (one positive weight per row of W), A spans the top right singular
    vectors of ``diag(√w) W`` and ``B = W Aᵀ``: the best rank-r fit in the weighted norm
    ``Σ_t w_t ‖W_t − B_t A‖²``, since each row's best fit in A's row space is its projection.
    With ``input_moment`` (``E[x xᵀ]`` of the layer's inputs, d_in x d_in) the fit is of the
    outputs instead, ``Σ_t w_t E‖(W_t − B_t A) x‖²``: the SVD of ``diag(√w) W L`` with
    ``L Lᵀ`` the moment (scaled to mean eigenvalue 1, plus ``RIDGE`` I), truncated and mapped
    back by ``L⁻¹``; A is an orthonormal basis of that fit's row space and ``B`` the fit in it.
    Each singular pair's sign is fixed (the largest entry of each row of A is positive), so
    the same W always gives the same factors, whatever LAPACK returned.
    """
    w = weight.detach().to("cpu", torch.float64)
    root = None
    if row_weights is not None:
        if row_weights.shape != (w.shape[0],) or not bool((row_weights > 0).all()):
            raise ValueError(f"row_weights must be {w.shape[0]} positive numbers, one per row.")
        root = row_weights.detach().to("cpu", torch.float64).sqrt()[:, None]
    unweighted, w = w, w if root is None else w * root
    chol = None
    if input_moment is not None:
        chol = _whitening(input_moment, w.shape[1])
        w = w @ chol
    threads = torch.get_num_threads()
    # One thread: on a busy 2-core machine LAPACK's threads wait on each other, measured 50x
    # slower (8 s instead of 0.15 s for a 1536 x 384 matrix); one small SVD gains nothing.
    torch.set_num_threads(1)
    try:
        u, s, vh = torch.linalg.svd(w, full_matrices=False)
    finally:
        torch.set_num_threads(threads)
    u, s, vh = u[:, :rank], s[:rank], vh[:rank]
    if chol is not None:
        # The fit is (U_r Σ_r)(V_rᵀ L⁻¹) in the weighted rows: orthonormalize its row space.
        back = torch.linalg.solve_triangular(chol, vh, upper=False, left=False)  # V_rᵀ L⁻¹
        basis = torch.linalg.qr(back.T).Q.T.contiguous()
        up = (u * s[None, :]) @ (back @ basis.T)
        vh, u, s = basis, (up if root is None else up / root), torch.ones_like(s)
    pivot = vh.abs().argmax(dim=1, keepdim=True)
    signs = torch.where(vh.gather(1, pivot).squeeze(1) < 0, -1.0, 1.0).to(torch.float64)
    # LAPACK returns column-major factors: make them row-major like any nn.Linear weight (a
    # transposed layout multiplies in another order and rounds differently after a reload).
    down = (vh * signs[:, None]).contiguous()
    if root is not None and chol is None:
        return down, (unweighted @ down.T).contiguous()
    return down, (u * (s * signs)[None, :]).contiguous()


def _whitening(moment: torch.Tensor, width: int) -> torch.Tensor:
    """The lower Cholesky factor of ``moment`` scaled to mean eigenvalue 1, plus ``RIDGE`` I."""
    c = moment.detach().to("cpu", torch.float64)
    if c.shape != (width, width) or not bool(torch.isfinite(c).all()):
        raise ValueError(f"input_moment must be a finite {width} x {width} matrix.")
    scale = torch.trace(c) / width
    if not scale > 0:
        raise ValueError("input_moment is zero: the layer saw no input.")
    c = (c + c.T) / 2 / scale + RIDGE * torch.eye(width, dtype=torch.float64)
    return torch.linalg.cholesky(c)


@torch.no_grad()
def input_moments(model: nn.Module, targets: tuple[str, ...], batches) -> dict[str, torch.Tensor]:
    """``E[x xᵀ]`` of the inputs of every ``targets`` linear layer over ``batches`` (model
    keyword arguments, one example each, so no padding enters), in float64 on CPU, with
    dropout off: what an activation-aware factorization fits the layers to."""
    base = _unwrap(model)
    sums: dict[str, list] = {}
    handles = []
    for name, module in base.named_modules():
        if isinstance(module, nn.Linear) and matches_target(name, targets):
            sums[name] = [
                torch.zeros(module.in_features, module.in_features, dtype=torch.float64),
                0,
            ]

            def hook(_module, args, key=name):
                x = args[0].detach().reshape(-1, args[0].shape[-1]).to("cpu", torch.float64)
                sums[key][0] += x.T @ x
                sums[key][1] += x.shape[0]

            handles.append(module.register_forward_pre_hook(hook))
    if not sums:
        raise CompressionError(f"No linear layer named {', '.join(targets)} in this model.")
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


def count_tokens(token_ids: list[list[int]], vocab_size: int) -> torch.Tensor:
    """How often ``token_ids`` (tokenized transcripts, with their prompt and end tokens) use
    each vocabulary row, as int64 (what a token-weighted factorization records)."""
    flat = [int(t) for ids in token_ids for t in ids]
    if flat and (min(flat) < 0 or max(flat) >= vocab_size):
        raise ValueError(f"token ids must lie in 0..{vocab_size - 1}.")
    return torch.bincount(torch.tensor(flat, dtype=torch.long), minlength=vocab_size)


def token_row_weights(counts: torch.Tensor, floor: float = TOKEN_WEIGHT_FLOOR) -> torch.Tensor:
    """One weight per vocabulary row: its count plus ``floor``, so that no row drops out."""
    return counts.to(torch.float64) + floor


# ----------------------------------------------------------------------------- the constraint


def _weight(linear: nn.Module) -> torch.Tensor:
    """The weight of an ``nn.Linear``, or of the base layer under a PEFT LoRA wrapper."""
    return getattr(linear, "base_layer", linear).weight


def _unwrap(model: nn.Module) -> nn.Module:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def lowrank_modules(model: nn.Module) -> dict[str, LowRankLinear]:
    """Module path (in the transformers model, under any PEFT wrapper) -> its factors."""
    return {n: m for n, m in _unwrap(model).named_modules() if isinstance(m, LowRankLinear)}


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
        constrain_matrix(_weight(module.down))
    return len(modules)


def orthogonality_errors(model: nn.Module) -> dict[str, float]:
    """Module path -> ``‖P/α² − I‖_F`` of its down factor."""
    return {
        n: matrix_orthogonality_error(_weight(m.down)) for n, m in lowrank_modules(model).items()
    }


def orthogonality_error(model: nn.Module) -> float:
    """The largest orthogonality error over the model's down factors (what training logs)."""
    errors = orthogonality_errors(model)
    if not errors:
        raise CompressionError("This model has no low-rank layers; factorize it first.")
    return max(errors.values())


# ----------------------------------------------------------------------------- factorize


def count_parameters(model: nn.Module) -> int:
    """Unique parameters (tied weights count once)."""
    return sum(p.numel() for p in _unwrap(model).parameters())


def _d_model(model: nn.Module) -> int | None:
    config = getattr(model, "config", None)
    return getattr(config, "d_model", None) or getattr(config, "hidden_size", None)


def matches_target(name: str, targets: tuple[str, ...]) -> bool:
    """Whether module path ``name`` is one of ``targets`` or ends with ``.<target>`` (as PEFT)."""
    return any(name == t or name.endswith("." + t) for t in targets)


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def factorize(
    model: nn.Module,
    config: LowRankConfig | None = None,
    token_counts: torch.Tensor | None = None,
    moments: dict[str, torch.Tensor] | None = None,
) -> tuple[nn.Module, Factorization]:
    """Replace the config's target ``nn.Linear`` layers by their truncated SVD, in place.

    With ``init="token-weighted"`` a target tied to the token embedding (its rows are the
    vocabulary) starts from the SVD weighted by ``token_row_weights(token_counts)``;
    other targets take the plain SVD. ``init="activation-aware"`` weights the vocabulary rows
    the same way (when counts are given) and whitens every target by its inputs' second moment
    (``moments``, from ``input_moments``). Returns the model and the record of what was
    replaced (also kept on the model, for ``save_lowrank``). A quantized (bitsandbytes) or
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
    base = _unwrap(model)
    if lowrank_modules(base):
        raise CompressionError("This model is factorized already; load a fresh base to redo it.")
    found = [
        (name, module)
        for name, module in base.named_modules()
        if isinstance(module, nn.Linear) and matches_target(name, config.targets)
    ]
    if not found:
        raise CompressionError(
            f"No linear layer named {', '.join(config.targets)} in this model; "
            f"Whisper's are {', '.join(FFN_TARGETS + ATTENTION_TARGETS)}."
        )
    d_model = _d_model(base)
    before = count_parameters(base)
    modules: dict[str, dict[str, int]] = {}
    for name, linear in tqdm(found, desc="factorizing", unit="layer", leave=False):
        if not linear.weight.is_floating_point():
            raise CompressionError(
                "Low-rank factorization needs float weights; load the base in fp32, fp16 or bf16 "
                "(quantize after factorizing)."
            )
        rank = config.rank_for(d_model, linear)
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
        counts = {int(t): int(token_counts[t]) for t in torch.nonzero(token_counts).flatten()}
    kept = None if config.init != "activation-aware" else {n: moments[n] for n in modules}
    record = Factorization(config, modules, before, count_parameters(base), counts, kept)
    base.lowrank_factorization = record
    return model, record


def factorization_of(model: nn.Module) -> Factorization:
    """The record ``factorize`` or ``load_lowrank`` left on the model."""
    record = getattr(_unwrap(model), "lowrank_factorization", None)
    if record is None:
        raise CompressionError("This model has no low-rank layers; factorize it first.")
    return record


def parameter_counts(model: nn.Module, config: LowRankConfig) -> dict[str, Any]:
    """What factorizing ``model`` with ``config`` would leave, counted without doing it."""
    base = _unwrap(model)
    before = count_parameters(base)
    after = before
    for name, linear in base.named_modules():
        if isinstance(linear, nn.Linear) and matches_target(name, config.targets):
            rank = config.rank_for(_d_model(base), linear)
            after -= linear.in_features * linear.out_features
            after += rank * (linear.in_features + linear.out_features)
    return {
        "params_before": before,
        "params_after": after,
        "reduction_pct": round(100.0 * (1 - after / before), 2),
        "fp32_mb_after": round(after * 4 / 2**20, 1),
    }

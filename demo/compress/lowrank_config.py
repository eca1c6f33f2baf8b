"""What a low-rank factorization (``demo.compress.lowrank``) does: the targets, their ranks and
how the factors start and are kept (``LowRankConfig``), and the record of what it replaced
(``Factorization``), with the settings' defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from demo.errors import CompressionError

FFN_TARGETS = ("fc1", "fc2")
ATTENTION_TARGETS = ("q_proj", "k_proj", "v_proj", "out_proj")
# The paper's setting, r = d/4 on fc1/fc2: −24% of Whisper base's parameters, no WER loss after
# fine-tuning (README "Low-rank Whisper" has our counts for tiny.en and base).
DEFAULT_RANK_FRACTION = 0.25
CONSTRAIN_EVERY = 4  # Kaldi constrains on a random 1 in 4 minibatches: "it won't stray far"
UPDATE_SPEED = 0.125  # ν: quadratic convergence near a semi-orthogonal matrix (Povey et al.)
SLOW_DOWN_ABOVE = (1.02, 1.1)  # eigenvalue-spread ratios above which ν is halved (each)
INITS = ("svd", "token-weighted", "activation-aware")  # how factors start (lowrank_init)
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
    # activation-aware: how many training clips the input moments are read from. Whisper
    # base's encoder fc2 sees 1500 x 2048 inputs a clip: ~10 s a clip on one core in float64.
    calibration_clips: int = CALIBRATION_CLIPS
    # Absolute ranks of some targets, (target, rank) pairs: a layer that one names takes its
    # rank instead of rank / rank_fraction (thin q/k projections beside wider fc1/fc2).
    target_ranks: tuple[tuple[str, int], ...] = ()

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
        if self.calibration_clips < 1:
            raise ValueError("calibration_clips must be at least 1.")
        for target, rank in self.target_ranks:
            if target not in self.targets:
                raise ValueError(f"target_ranks names {target!r}, which is not a target.")
            if not isinstance(rank, int) or rank < 1:
                raise ValueError(f"The rank of {target} must be a whole number of at least 1.")

    def rank_for(self, d_model: int | None, linear: nn.Linear, name: str = "") -> int:
        """The rank of one layer (``name``: its module path, for ``target_ranks``); refuses
        one above the layer's smaller side."""
        own = [rank for target, rank in self.target_ranks if matches_target(name, (target,))]
        if own:
            rank = own[0]
        elif self.rank is not None:
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
    # A token-weighted start's counts, token id -> count (zeros left out; float where
    # general-English counts were added): with them and the base, the factors are rebuilt
    # exactly, so a LoRA run need not save them.
    token_counts: dict[int, int | float] | None = None
    # An activation-aware start's input second moments, module path -> d_in x d_in: with the
    # base and the counts they rebuild its factors exactly.
    input_moments: dict[str, torch.Tensor] | None = None
    # Where the counts came from (training.token_sources: "train", "train+wordfreq" with its
    # word count and share), for the reader; None for an older record or no counts.
    token_source: dict[str, Any] | None = None

    @property
    def reduction_pct(self) -> float:
        return 100.0 * (1 - self.params_after / self.params_before) if self.params_before else 0.0

    def summary(self) -> dict[str, Any]:
        """JSON-ready facts for run.json's ``extra`` and the saved config."""
        ranks = sorted({m["rank"] for m in self.modules.values()})
        return {
            **asdict(self.config),
            "targets": list(self.config.targets),
            "target_ranks": {target: rank for target, rank in self.config.target_ranks},
            "modules": len(self.modules),
            "ranks": ranks,
            "params_before": self.params_before,
            "params_after": self.params_after,
            "reduction_pct": round(self.reduction_pct, 2),
            **({"token_source": self.token_source} if self.token_source else {}),
        }


def parse_targets(items) -> tuple[tuple[str, ...], tuple[tuple[str, int], ...]]:
    """``("fc1", "q_proj:64")`` -> ``(("fc1", "q_proj"), (("q_proj", 64),))``: the targets, and
    the ranks of those given one (``LowRankConfig.target_ranks``); one sentence if an item is
    malformed."""
    targets, ranks = [], []
    for item in items:
        name, colon, rank = item.strip().partition(":")
        if not name or (colon and not (rank.isdigit() and int(rank) > 0)):
            raise ValueError(f"{item!r}: give name:rank, as q_proj:64 (a rank of at least 1).")
        targets.append(name)
        ranks += [(name, int(rank))] if colon else []
    return tuple(targets), tuple(ranks)


def matches_target(name: str, targets: tuple[str, ...]) -> bool:
    """Whether module path ``name`` is one of ``targets`` or ends with ``.<target>`` (as PEFT)."""
    return any(name == t or name.endswith("." + t) for t in targets)

"""The low-rank compression flags of a Whisper training run, in a config of their own.

``AsrConfig`` takes them in (its flags stay ``--compress``, ``--rank-fraction``...); they
describe a ``demo.compress.lowrank.LowRankConfig``, which ``training.compress`` applies after
the base loads and before any adapter.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo.options import option
from demo.quant import get_quant_mode
from training.token_sources import WORDFREQ_SHARE, WORDFREQ_WORDS, check_token_source

COMPRESSIONS = ("none", "lowrank")


def _help(text: str, default=None):
    return option(default, text)


@dataclass(frozen=True)
class LowRankOptions:
    compress: str = _help("none, or lowrank: replace layers by semi-orthogonal factors", "none")
    rank_fraction: float = _help("low-rank: rank as a share of d_model (0.25 = d/4)", 0.25)
    lowrank_rank: int | None = _help("low-rank: absolute rank (overrides --rank-fraction)", None)
    compress_targets: tuple[str, ...] = _help(
        "low-rank: modules to factorize (fc1 fc2, add q_proj k_proj v_proj out_proj); "
        "name:rank gives one its own rank (q_proj:64)",
        default=("fc1", "fc2"),
    )
    orthogonal: bool = _help("low-rank: keep the down factor semi-orthogonal (full tuning)", True)
    constrain_every: int = _help("low-rank: optimizer steps between constraint steps", 4)
    factor_lr_scale: float = _help(
        "low-rank full fine-tune: the factors' learning rate as a multiple of --lr", 1.0
    )
    lowrank_init: str = _help(
        "low-rank: svd, token-weighted (the tied vocabulary rows weighted by how often the "
        "training transcripts use each token), or activation-aware (token-weighted, and fitted "
        "to each layer's inputs on the training clips)",
        "svd",
    )
    lowrank_calibration_clips: int = _help(
        "low-rank activation-aware: training clips the layers' input moments are read from", 256
    )
    lowrank_token_source: str = _help(
        "low-rank token-weighted/activation-aware: where the vocabulary rows' token counts "
        "come from: train (the training transcripts), train+wordfreq (plus the most "
        "frequent English words, by wordfreq), train+wordfreq-cased (those words in lower "
        "case and capitalized, half each)",
        "train",
    )
    lowrank_wordfreq_words: int = _help(
        "low-rank train+wordfreq: how many of the most frequent English words", WORDFREQ_WORDS
    )
    lowrank_wordfreq_share: float = _help(
        "low-rank train+wordfreq: the words' share of the combined token mass", WORDFREQ_SHARE
    )

    def check_lowrank(self) -> None:
        """Refuse, in one sentence, flags that do not describe a low-rank run of this config."""
        if self.compress not in COMPRESSIONS:
            raise ValueError(
                f"compress must be one of {', '.join(COMPRESSIONS)}, not {self.compress!r}."
            )
        if self.compress == "lowrank":
            if get_quant_mode(self.quant).bnb:
                raise ValueError(
                    "--compress lowrank factorizes float weights; use --quant fp32 or bf16 "
                    "(quantize the low-rank model after training)."
                )
            self.lowrank_config()  # the core's own checks (rank, targets, constrain_every)
        check_token_source(self)
        if self.lowrank_token_source != "train" and (
            self.compress != "lowrank" or self.lowrank_init == "svd"
        ):
            raise ValueError(
                "--lowrank-token-source weighs the vocabulary rows of a token-weighted or "
                "activation-aware low-rank start (--compress lowrank --lowrank-init ...)."
            )
        if not self.factor_lr_scale > 0:
            raise ValueError("--factor-lr-scale must be above 0 (1 = the same rate as the rest).")
        if self.factor_lr_scale != 1 and not (self.compress == "lowrank" and self.method == "full"):
            raise ValueError(
                "--factor-lr-scale applies to a full fine-tune of a low-rank model "
                "(--compress lowrank --method full)."
            )

    def lowrank_config(self):
        """The ``demo.compress.lowrank.LowRankConfig`` these flags describe."""
        from demo.compress.lowrank import LowRankConfig, parse_targets

        try:
            targets, ranks = parse_targets(self.compress_targets)
        except ValueError as exc:
            raise ValueError(f"--compress-targets {exc}") from None
        return LowRankConfig(
            targets=targets,
            target_ranks=ranks,
            rank_fraction=None if self.lowrank_rank is not None else self.rank_fraction,
            rank=self.lowrank_rank,
            orthogonal=self.orthogonal,
            constrain_every=self.constrain_every,
            init=self.lowrank_init,
            calibration_clips=self.lowrank_calibration_clips,
        )

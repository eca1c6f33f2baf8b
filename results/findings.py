"""Which of the thesis's claims hold at our scale, decided from the runs, with the numbers.

Each finding is measured, never asserted: a claim with no runs to test it says so. Used by the
Reported vs measured view and by ``results.report`` (the Findings section of
``assets/benchmarks.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from results.charts.reported import final_score, grid_runs, wer_cells
from results.runs import Run

VERDICTS = ("holds", "does not hold", "mixed", "not measured")
# A difference within this many WER points counts as "as good" (runs here are small).
TIE_POINTS = 0.5


@dataclass(frozen=True)
class Finding:
    claim: str  # the thesis's claim, in one line
    verdict: str  # a VERDICTS value
    evidence: str  # the numbers behind the verdict

    def markdown(self) -> str:
        return f"- **{self.claim}**: {self.verdict}. {self.evidence}"


def _wer_cells(runs: Iterable[Run]) -> dict[tuple[str, str], float]:
    return {key: 100 * final_score(run, "wer") for key, run in wer_cells(runs).items()}


def _verdict(results: list[bool]) -> str:
    if not results:
        return "not measured"
    return "holds" if all(results) else "does not hold" if not any(results) else "mixed"


def _pairs(cells, left: str, right: str) -> list[tuple[str, float, float]]:
    sizes = sorted({s for s, _ in cells})
    return [(s, cells[(s, left)], cells[(s, right)]) for s in sizes
            if (s, left) in cells and (s, right) in cells]  # fmt: skip


def peft_close_to_full(cells) -> Finding:
    evidence, results = [], []
    for size in sorted({s for s, _ in cells}):
        full = cells.get((size, "full"))
        quantized = {m: v for (s, m), v in cells.items() if s == size and "+" in m}
        if full is None or not quantized:
            continue
        mode, best = min(quantized.items(), key=lambda kv: kv[1])
        evidence.append(f"{size}: best quantized PEFT {mode} {best:.1f}% vs full {full:.1f}%")
        results.append(best - full <= max(TIE_POINTS, 0.25 * full))
    return Finding(
        "PEFT on a quantized base comes close to full fine-tuning (within 25% relative WER)",
        _verdict(results), "; ".join(evidence) or "needs a full and a quantized PEFT run per size.",
    )  # fmt: skip


def _head_to_head(cells, claim: str, pairs, names: tuple[str, str], missing: str) -> Finding:
    """``claim``: in each (label, claimed, other) pair of grid cells, per size, the claimed
    mode's WER is at most the other's (within TIE_POINTS)."""
    evidence, results = [], []
    for label, claimed, other in pairs:
        for size, mine, theirs in _pairs(cells, claimed, other):
            evidence.append(f"{size} {label}: {names[0]} {mine:.1f}% vs {names[1]} {theirs:.1f}%")
            results.append(mine <= theirs + TIE_POINTS)
    return Finding(claim, _verdict(results), "; ".join(evidence) or missing)


def adalora_vs_lora(cells) -> Finding:
    pairs = [(quant, f"{quant}+adalora", f"{quant}+lora") for quant in ("int8", "nf4")]
    missing = "needs LoRA and AdaLoRA runs on the same base."
    return _head_to_head(
        cells, "AdaLoRA is at least as good as LoRA", pairs, ("AdaLoRA", "LoRA"), missing
    )


def int8_vs_int4(cells) -> Finding:
    pairs = [(method, f"int8+{method}", f"nf4+{method}") for method in ("lora", "adalora")]
    missing = "needs int8 and NF4 runs of one method."
    return _head_to_head(
        cells, "An int8 base beats a 4-bit (NF4) base", pairs, ("int8", "NF4"), missing
    )


def smaller_trainable_share(runs: Iterable[Run]) -> Finding:
    shares = sorted(
        {(r.size, r.mode, r.info.trainable_pct) for r in grid_runs(runs)
         if r.info and r.info.trainable_pct and r.mode != "full"}
    )  # fmt: skip
    evidence = "; ".join(f"{s} {m}: {p:.2f}%" for s, m, p in shares)
    return Finding(
        "PEFT trains a small share of the parameters (a few %)",
        _verdict([p < 5.0 for *_, p in shares]), evidence or "no PEFT runs yet.",
    )  # fmt: skip


def learning_rate_claim(runs: Iterable[Run]) -> Finding:
    """Table 4.1: quantized bases need ~40x smaller learning rates than the paper's."""
    groups: dict[tuple, dict[float, float]] = {}
    for run in grid_runs(runs):
        lr = run.config.get("lr")
        wer = final_score(run, "wer")
        if run.task == "asr" and run.mode and "+" in run.mode and lr and wer is not None:
            groups.setdefault((run.size, run.mode, run.dataset), {})[float(lr)] = 100 * wer
    evidence, results = [], []
    for (size, mode, _), by_lr in sorted(groups.items(), key=str):
        if len(by_lr) < 2:
            continue
        low, high = min(by_lr), max(by_lr)
        evidence.append(
            f"{size} {mode}: lr {low:g} -> {by_lr[low]:.1f}%, lr {high:g} -> {by_lr[high]:.1f}%"
        )
        results.append(by_lr[low] <= by_lr[high] + TIE_POINTS)
    return Finding(
        "Quantized bases need a much smaller learning rate (thesis: 40x)",
        _verdict(results), "; ".join(evidence) or "needs one configuration at two learning rates.",
    )  # fmt: skip


def findings(runs: Iterable[Run]) -> list[Finding]:
    """Every claim with its verdict, from the Whisper runs given."""
    runs = list(runs)
    cells = _wer_cells(runs)
    return [
        peft_close_to_full(cells),
        adalora_vs_lora(cells),
        int8_vs_int4(cells),
        smaller_trainable_share(runs),
        learning_rate_claim(runs),
    ]


def findings_markdown(runs: Iterable[Run]) -> str:
    """The findings as a Markdown list (final WER on each run's test split where measured)."""
    return "\n".join(f.markdown() for f in findings(runs))

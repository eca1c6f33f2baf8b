"""Which of the thesis's claims hold at our scale, decided from the runs, with the numbers.

Each finding is measured, never asserted: a claim with no runs to test it says so. Used by the
Reported vs measured view and by ``results.report`` (the Findings section of
``assets/benchmarks.md``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bench.rescore import run_weights
from demo.intervals import NOT_DISTINGUISHABLE, distinguishable, interval_text
from demo.runinfo import TEST_SPLIT
from results.charts.reported import final_score, grid_runs, wer_cells
from results.charts.style import num
from results.paired import rescored_beside, run_examples, same_manifest_row, wer_gap
from results.runs import Run

VERDICTS = ("holds", "does not hold", "mixed", NOT_DISTINGUISHABLE, "not measured")
# Without each clip's output (older runs), a difference within this many WER points counts as
# "as good"; with them, the 95% paired interval decides (demo.intervals).
TIE_POINTS = 0.5
NO_INTERVAL = "no interval"
RESCORE_NAME = "grid-rescore"  # bench.rescore --name for the runs the findings compare


@dataclass(frozen=True)
class Finding:
    claim: str  # the thesis's claim, in one line
    verdict: str  # a VERDICTS value
    evidence: str  # the numbers behind the verdict

    def markdown(self) -> str:
        return f"- **{self.claim}**: {self.verdict}. {self.evidence}"


@dataclass
class _Scores:
    """The grid's cells with each one's test WER, and the paired interval of two cells where
    both kept each clip's output; records the runs compared without one."""

    cells: dict[tuple[str, str], Run]
    rescored: dict[tuple[str, str], dict]
    without: dict[str, Run] = field(default_factory=dict)  # run id -> run lacking outputs
    compared: dict[str, Run] = field(default_factory=dict)

    def wer(self, run: Run) -> float:
        return 100 * final_score(run, "wer")

    def gap(self, mine: Run, theirs: Run) -> tuple[float, float, float] | None:
        """(mine - theirs, low, high) in WER points, paired over the test clips, or None."""
        found = {}
        for run in (mine, theirs):
            self.compared[run.run_id] = run
            found[run.run_id] = run_examples(
                run, TEST_SPLIT, same_manifest_row(run, TEST_SPLIT, self.rescored)
            )
            if found[run.run_id] is None:
                self.without[run.run_id] = run
        return wer_gap(found[theirs.run_id], found[mine.run_id])

    def compare(self, mine: Run, theirs: Run, text: str) -> tuple[str, bool | None]:
        """``text`` with the interval of ``mine - theirs`` (or "no interval"), and whether
        ``mine`` is at least as good: True / False, None when the interval holds 0."""
        gap = self.gap(mine, theirs)
        if gap is None:
            better = self.wer(mine) <= self.wer(theirs) + TIE_POINTS
            return f"{text} ({NO_INTERVAL})", better
        delta, low, high = gap
        shown = f"{text} (Δ {delta:+.1f} points, 95% {interval_text(low, high)})"
        return shown, None if not distinguishable(low, high) else high < 0


def _verdict(results: list[bool | None]) -> str:
    if not results:
        return "not measured"
    decided = [r for r in results if r is not None]
    if not decided:
        return NOT_DISTINGUISHABLE
    return "holds" if all(decided) else "does not hold" if not any(decided) else "mixed"


def _pairs(cells, left: str, right: str) -> list[tuple[str, Run, Run]]:
    sizes = sorted({s for s, _ in cells})
    return [(s, cells[(s, left)], cells[(s, right)]) for s in sizes
            if (s, left) in cells and (s, right) in cells]  # fmt: skip


def peft_close_to_full(scores: _Scores) -> Finding:
    evidence, results = [], []
    cells = scores.cells
    for size in sorted({s for s, _ in cells}):
        full = cells.get((size, "full"))
        quantized = {m: r for (s, m), r in cells.items() if s == size and "+" in m}
        if full is None or not quantized:
            continue
        mode, best = min(quantized.items(), key=lambda kv: scores.wer(kv[1]))
        text = (f"{size}: best quantized PEFT {mode} {scores.wer(best):.1f}% vs full "
                f"{scores.wer(full):.1f}%")  # fmt: skip
        shown, _ = scores.compare(best, full, text)
        evidence.append(shown)
        gap = scores.wer(best) - scores.wer(full)
        results.append(gap <= max(TIE_POINTS, 0.25 * scores.wer(full)))
    return Finding(
        "PEFT on a quantized base comes close to full fine-tuning (within 25% relative WER)",
        _verdict(results), "; ".join(evidence) or "needs a full and a quantized PEFT run per size.",
    )  # fmt: skip


def _head_to_head(scores: _Scores, claim: str, pairs, names: tuple[str, str], missing: str):
    """``claim``: in each (label, claimed, other) pair of grid cells, per size, the claimed
    mode's WER is at most the other's (within its interval, or TIE_POINTS without one)."""
    evidence, results = [], []
    for label, claimed, other in pairs:
        for size, mine, theirs in _pairs(scores.cells, claimed, other):
            text = (f"{size} {label}: {names[0]} {scores.wer(mine):.1f}% vs {names[1]} "
                    f"{scores.wer(theirs):.1f}%")  # fmt: skip
            shown, better = scores.compare(mine, theirs, text)
            evidence.append(shown)
            results.append(better)
    return Finding(claim, _verdict(results), "; ".join(evidence) or missing)


def adalora_vs_lora(scores: _Scores) -> Finding:
    pairs = [(quant, f"{quant}+adalora", f"{quant}+lora") for quant in ("int8", "nf4")]
    missing = "needs LoRA and AdaLoRA runs on the same base."
    return _head_to_head(
        scores, "AdaLoRA is at least as good as LoRA", pairs, ("AdaLoRA", "LoRA"), missing
    )


def int8_vs_int4(scores: _Scores) -> Finding:
    pairs = [(method, f"int8+{method}", f"nf4+{method}") for method in ("lora", "adalora")]
    missing = "needs int8 and NF4 runs of one method."
    return _head_to_head(
        scores, "An int8 base beats a 4-bit (NF4) base", pairs, ("int8", "NF4"), missing
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


def learning_rate_claim(scores: _Scores, runs: Iterable[Run]) -> Finding:
    """Table 4.1: quantized bases need ~40x smaller learning rates than the paper's."""
    groups: dict[tuple, dict[float, Run]] = {}
    for run in grid_runs(runs):
        lr = run.config.get("lr")
        if run.task == "asr" and run.mode and "+" in run.mode and lr and final_score(run, "wer") \
                is not None:  # fmt: skip
            groups.setdefault((run.size, run.mode, run.dataset), {})[float(lr)] = run
    evidence, results = [], []
    for (size, mode, _), by_lr in sorted(groups.items(), key=str):
        if len(by_lr) < 2:
            continue
        low, high = min(by_lr), max(by_lr)
        text = (f"{size} {mode}: lr {low:g} -> {scores.wer(by_lr[low]):.1f}%, lr {high:g} -> "
                f"{scores.wer(by_lr[high]):.1f}%")  # fmt: skip
        shown, better = scores.compare(by_lr[low], by_lr[high], text)
        evidence.append(shown)
        results.append(better)
    return Finding(
        "Quantized bases need a much smaller learning rate (thesis: 40x)",
        _verdict(results), "; ".join(evidence) or "needs one configuration at two learning rates.",
    )  # fmt: skip


def _scores(runs: list[Run]) -> _Scores:
    """The grid's cells and the rescore rows beside the runs (``<runs root>/bench``)."""
    return _Scores(wer_cells(runs), rescored_beside(runs))


def _assess(runs: Iterable[Run]) -> tuple[list[Finding], _Scores]:
    runs = list(runs)
    scores = _scores(runs)
    found = [
        peft_close_to_full(scores),
        adalora_vs_lora(scores),
        int8_vs_int4(scores),
        smaller_trainable_share(runs),
        learning_rate_claim(scores, runs),
    ]
    return found, scores


def findings(runs: Iterable[Run]) -> list[Finding]:
    """Every claim with its verdict, from the Whisper runs given."""
    return _assess(runs)[0]


def _rescore_command(runs: list[Run]) -> str:
    paths = " ".join(f"{r.path.parent.name}/{r.path.name}" for r in runs)
    trains = sorted({str(r.config.get("train")) for r in runs if r.config.get("train")})
    train = trains[0] if len(trains) == 1 else "<its training manifest>"
    return f"`python -m bench.rescore {paths} --train {train} --splits test --name {RESCORE_NAME}`"


def sample_note(scores: _Scores) -> str:
    """How many test clips the compared WERs rest on, what the intervals are, and, for the
    runs without each clip's output, the commands that would give them one."""
    if not scores.compared:
        return ""
    clips = sorted({int(n) for r in scores.compared.values()
                    if (n := num(r.split(TEST_SPLIT).get("eval_samples")))})  # fmt: skip
    size = "/".join(map(str, clips)) or "an unrecorded number of"
    note = (f"Each WER above is on the runs' test split, {size} clips. Intervals: 95% paired "
            "bootstrap over those clips (`demo.intervals`), where both runs kept each clip's "
            f"output; \"{NOT_DISTINGUISHABLE}\" marks one that holds 0.")  # fmt: skip
    if not scores.without:
        return note
    missing = sorted(scores.without.values(), key=lambda r: r.run_id)
    rescorable = [r for r in missing if run_weights(r.path) is not None]
    retrain = [r.run_id for r in missing if run_weights(r.path) is None]
    note += (f" *{NO_INTERVAL.capitalize()}* where a run predates per-clip outputs "
             f"(`predictions/test.jsonl`): {len(missing)} of the {len(scores.compared)} runs "
             "compared; those comparisons rest on point estimates (a gap within "
             f"{TIE_POINTS} points counts as a tie).")  # fmt: skip
    if rescorable:
        note += f" {_rescore_command(rescorable)} keeps each clip's output for the ones in git"
        note += ";" if retrain else "."
    if retrain:
        note += (f" {', '.join(retrain)}: weights not in git, so their run.json command trains "
                 "them again (training keeps the outputs now).")  # fmt: skip
    return note


def findings_markdown(runs: Iterable[Run]) -> str:
    """The findings as a Markdown list (final WER on each run's test split where measured),
    then the sample size and the intervals' source (or why some comparisons have none)."""
    found, scores = _assess(runs)
    note = sample_note(scores)
    return "\n".join(f.markdown() for f in found) + (f"\n\n{note}" if note else "")

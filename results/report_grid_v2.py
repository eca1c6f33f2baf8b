"""The Whisper grid on corpus v2 beside the espeak grid, on real human speech: the section of
``assets/benchmarks.md`` that answers "does training on more voices help or hurt real speech?"

Per size x mode: the untrained model, the espeak grid's cell (trained on ACLSum sentences by
espeak-ng only) and the corpus-v2 cell (news, WordNet and ACLSum by 12 voices of 4 engines),
each on the v2 test split (4 voices and all texts unseen in training) and on the real-speech set,
the same clips for every model. The v2 runs score them at the end of training; the untrained
models and the espeak cells are scored afterwards on the same clips by ``bench.rescore``
(``grid-v2-rescore-<model>.json``), with the same evaluation code.
"""

from __future__ import annotations

from pathlib import Path

from bench.env import ROOT
from bench.markdown import fmt, table
from demo.intervals import interval_text
from demo.runinfo import TEST_SPLIT
from results.charts.corpus import REAL_SPLIT, UNTRAINED
from results.charts.style import MODE_ORDER, SIZE_ORDER, num
from results.paired import rescored_rows, run_examples, wer_gap
from results.runs import Run, list_runs

V2_DATASET = "corpus-v2"
ESPEAK_DATASET = "aclsum-asr"
RECIPE = "training/grids/asr-v2.yaml"
SPLITS = (TEST_SPLIT, REAL_SPLIT)
RESCORE_FILES = "grid-v2-rescore-*.json"  # bench.rescore --name grid-v2-rescore-<model>


def real_change_interval(espeak, v2) -> str:
    """The real-speech change's 95% interval (points, paired over clips), or "–" when either
    side lacks its outputs or the two were not scored on the same clips."""
    gap = wer_gap(espeak, v2)
    return "–" if gap is None else interval_text(gap[1], gap[2])


def _pct(line: dict | None) -> str:
    value = num((line or {}).get("wer"))
    return fmt(None if value is None else 100 * value, ".1f")


def _key(run: Run) -> tuple:
    mode = MODE_ORDER.index(run.mode) if run.mode in MODE_ORDER else len(MODE_ORDER)
    return SIZE_ORDER.index(run.size) if run.size in SIZE_ORDER else 99, mode


def v2_rows(runs: list[Run], rescored: dict[tuple[str, str], dict]) -> list[list[str]]:
    """One row per completed corpus-v2 Whisper run, beside its espeak twin and the untrained
    model (a twin whose weights are not in git has no v2-test / real-speech score: "–")."""
    asr = [r for r in runs if r.task == "asr" and not r.system and r.status == "completed"]
    by_id = {r.run_id: r for r in asr if r.dataset == ESPEAK_DATASET}
    out = []
    for run in sorted((r for r in asr if r.dataset == V2_DATASET), key=_key):
        twin = by_id.get(run.run_id.removesuffix("-v2") + "-sci")  # the same cell's id
        untrained = f"{run.model} ({UNTRAINED})"
        twin_id = twin.run_id if twin else None
        real_v2, real_twin = run.split(REAL_SPLIT), rescored.get((twin_id, REAL_SPLIT))
        change = None
        if twin is not None and num(real_v2.get("wer")) is not None and real_twin:
            change = 100 * (num(real_v2["wer"]) - num(real_twin.get("wer")))
        out.append([
            run.size, run.mode,
            _pct(rescored.get((untrained, TEST_SPLIT))),
            _pct(rescored.get((untrained, REAL_SPLIT))),
            _pct(twin.split(TEST_SPLIT) if twin else None),
            _pct(rescored.get((twin_id, TEST_SPLIT))), _pct(real_twin),
            _pct(run.split(TEST_SPLIT)), _pct(real_v2), fmt(change, "+.1f"),
            real_change_interval(run_examples(twin, REAL_SPLIT, real_twin),
                                 run_examples(run, REAL_SPLIT,
                                              rescored.get((run.run_id, REAL_SPLIT)))),
            f"{run.run_id}" + (f" / {twin.run_id}" if twin else ""),
        ])  # fmt: skip
    return out


def _words(runs: list[Run]) -> str:
    clips = {
        split: {int(c) for r in runs if (c := num(r.split(split).get("eval_samples")))}
        for split in SPLITS
    }
    return ", ".join(f"{split}: {'/'.join(map(str, sorted(n)))} clips" for split, n in
                     clips.items() if n)  # fmt: skip


def grid_v2_section(runs_root: Path | None = None, bench: Path | None = None) -> list[str]:
    """The section, from the runs in ``runs_root`` (default checkpoints/) and the rescore files
    in ``bench`` (default checkpoints/bench/); [] before any corpus-v2 run completed."""
    runs = list_runs(runs_root or ROOT / "checkpoints")
    rescored = rescored_rows(bench or ROOT / "checkpoints" / "bench", RESCORE_FILES)
    rows = v2_rows(runs, rescored)
    if not rows:
        return []
    v2 = [r for r in runs if r.dataset == V2_DATASET]
    out = ["## The Whisper grid on corpus v2, beside the espeak grid, on real human speech", ""]
    out += [f"`python -m training.grid {RECIPE}`: each corpus-v2 cell has the espeak grid's "
            "recipe (100 steps of 8 clips, the same rates), on 400 clips of [corpus "
            "v2](corpora/v2.md) (12 voices of 4 engines; news, WordNet and ACLSum sentences) "
            "instead of 200 clips of ACLSum sentences by espeak-ng. Scored on the v2 test split "
            "(4 voices and every text unseen in training) and on the [real-speech "
            "set](corpora/real-speech.md) (human speech), the same clips drawn with seed 0 for "
            "every model ("
            f"{_words(v2)}"
            "). The untrained model and the espeak cells are scored on those clips afterwards by "
            "`bench.rescore` (the same evaluation code); an espeak cell whose weights are not in "
            "git (full fine-tunes) has no such score (–). WER %; *real Δ*: corpus v2's real-"
            "speech WER minus the espeak cell's, in points (negative: more voices helped), with "
            "its 95% interval from a paired bootstrap over the clips where both models' outputs "
            "are kept. On ~1,150 real words one word is ~0.09 points.", ""]  # fmt: skip
    header = ["size", "mode", "untrained: v2 test", "untrained: real",
              "espeak-trained: espeak test", "espeak-trained: v2 test", "espeak-trained: real",
              "v2-trained: v2 test", "v2-trained: real", "real Δ", "real Δ 95% interval",
              "runs (v2 / espeak)"]  # fmt: skip
    return out + table(header, rows) + [""]

"""The research systems' sections of ``assets/benchmarks.md`` (written by results.report).

- ``latent.json`` (bench.latent): latent-space decoder compression on the real architectures'
  shapes with random weights: sizes, generation time and training memory as ratios.
- ``latent-whisper*.json`` (bench.latent_whisper): Whisper's real weights reading an
  autoencoder's reconstruction of the encoder output (WER per latent), and narrow decoders.
- The low-rank study's conditions, from the run folders in checkpoints/ (lowrank.yaml).
- ``e2e*.json`` (bench.e2e): speech -> summary as oracle, cascade and the end-to-end model.
"""

from __future__ import annotations

from pathlib import Path

from bench.e2e import OTHER
from bench.env import ROOT, read_results
from bench.latent_whisper import RECONSTRUCTIONS
from bench.markdown import fmt, table
from demo.intervals import MIN_ITEMS, interval_text
from results.charts.systems import BRIDGE_REPORTED
from results.lowrank_seeds import seed_groups, seed_lines
from results.paired import (
    document_gap,
    document_interval,
    gap_text,
    rescored_beside,
    run_examples,
    same_manifest_row,
    wer_gap,
)
from results.report_bridge import served_bridge_section
from results.runs import arm_name, list_runs, lowrank_factorization, recipe, seed_of, usual_epochs


def systems_sections(folder: Path, runs_root: Path | None = None) -> list[str]:
    """Every research-system section whose result file is in ``folder`` (bench results) or
    whose runs are in ``runs_root`` (default: the repository's checkpoints/)."""
    lines = lowrank_section(list_runs(runs_root or ROOT / "checkpoints"))
    latent = read_results(folder / "latent.json")
    if latent:
        lines += latent_section(latent)
    for path in sorted(folder.glob("latent-whisper*.json")):
        data = read_results(path)
        if data and data.get("rows"):
            lines += latent_whisper_section(data)
    bridge = read_results(folder / "bridge_wer_vs_queries.json")
    if bridge and bridge.get("rows"):
        lines += bridge_section(bridge, list_runs(runs_root or ROOT / "checkpoints"))
    lines += served_bridge_section(folder)
    return lines + e2e_sections(folder)


def e2e_sections(folder: Path) -> list[str]:
    """Every ``e2e*.json`` (bench.e2e) under one heading, the file over the most clips first
    (the current model on the whole test split; earlier models' smaller runs after it)."""
    found = [read_results(path) for path in sorted(folder.glob("e2e*.json"))]
    found = sorted((d for d in found if d and d.get("rows")), key=lambda d: -d["rows"][0]["clips"])
    return [line for i, data in enumerate(found) for line in e2e_section(data, heading=i == 0)]


def bridge_section(data: dict, runs=()) -> list[str]:
    """The Q-Former bridge (training.eval_bridge): WER, CER and MiniLM similarity against the
    number of queries, beside the untrained pooled frames and Whisper on every frame; the
    seed's reported point; a pre-training run's retrieval and matching scores."""
    by_run = {r.run_id: r for r in runs}
    rows = data["rows"]
    first = rows[0]
    out = ["## Q-Former bridge: ASR through Nq query vectors", ""]
    commands = data.get("commands") or [data.get("command")]
    out += [f"`{c}`" + ("; then" if i < len(commands) - 1 else "")
            for i, c in enumerate(commands) if c]  # fmt: skip
    out += [
        "",
        f"{first['clips']} `{first['split']}` clips of the bridge corpus (spoken ACLSum "
        "sentences, espeak-ng voices and noise; tables merged over sessions only when their "
        "Whisper rows agree, that is on the same clips). Bridge: the Q-Former (from MiniLM) "
        "reads the frozen tiny.en encoder's frames and the frozen tiny.en decoder reads its Nq "
        "vectors; pooled: the same decoder reading the frames mean-pooled to Nq, nothing "
        "trained; Whisper: every frame. Similarity: MiniLM cosine, not BERTScore. Seconds per "
        f"clip: decoding from cached encoder features. {NO_CLIP_OUTPUTS}",
        "",
    ]
    body = []
    for r in rows:
        params = r.get("params")
        run = by_run.get(r["system"].split("/")[1]) if r["system"].count("/") >= 2 else None
        if params is None and run is not None and run.info:
            params = run.info.trainable_params  # rows scored before eval_bridge recorded it
        if params is None and r["kind"] == "pooled":
            params = 0  # nothing trained
        body.append([
            r["system"], r["kind"], fmt(r.get("num_queries"), "d"), fmt(100 * r["wer"], ".1f"),
            fmt(100 * r["cer"], ".1f"), fmt(100 * r["minilm_similarity"], ".1f"),
            fmt(None if params is None else params / 1e6, ".1f"), fmt(r.get("s_per_clip"), ".2f"),
        ])  # fmt: skip
    out += table(["system", "kind", "Nq", "WER %", "CER %", "similarity", "trained (M)",
                  "s / clip"], body)  # fmt: skip
    seed = BRIDGE_REPORTED
    out += ["", f"Reported ({seed['name']}, their data and encoder): Nq {seed['num_queries']}, "
            f"WER {seed['wer']}%, BERTScore F1 {seed['bertscore_f1']}.", ""]  # fmt: skip
    for run in runs:
        extra = (run.info.extra or {}) if run.info else {}
        last = run.validation[-1] if run.validation else {}
        if run.system == "qformer" and extra.get("stage") == "pretrain" and "r_at_1" in last:
            batch = run.config.get("eval_batch_size") or run.config.get("batch_size") or 0
            state = "" if run.status == "completed" else f", run {run.status}"
            out += [
                f"Stage 1, `{run.run_id}` (STCL + STM + STG, Nq {extra.get('num_queries')}, "
                f"epoch {last.get('epoch')}{state}): validation speech -> text R@1 "
                f"{100 * last['r_at_1']:.1f}% within batches of up to {batch} clips (chance: "
                f"one in the batch, {100 / max(batch, 1):.1f}% at {batch}), STM accuracy "
                f"{100 * last['stm_accuracy']:.1f}% (chance 50%).",
                "",
            ]
    return out


def e2e_section(data: dict, heading: bool = True) -> list[str]:
    """Oracle / cascade / end-to-end on the same abstract clips, the gaps to the cascade with
    their paired intervals and each system's ROUGE-L interval over the clips."""
    meta, rows = data["meta"], {r["system"]: r for r in data["rows"]}
    first = next(iter(rows.values()))
    out = ["## Speech -> summary: oracle, cascade and the end-to-end model", ""] if heading else []
    out += [
        f"`{meta.get('command', 'python -m bench.e2e')}` ({meta.get('date', '')}): "
        f"{first['clips']} `{meta.get('split', 'test')}` clips of `{meta.get('clips')}` "
        f"({first['audio_minutes']:.1f} audio minutes: spoken ACLSum abstracts), scored "
        "against each paper's ACLSum summary (its three aspect sentences joined). Oracle: the "
        "gold abstract text -> SmolLM2-135M-Instruct with its best adapter; cascade: Whisper "
        "(the E2E model's encoder size) -> the same SmolLM2; end-to-end: Whisper encoder -> "
        "Q-Former -> SmolLM2 with its own LoRA, no transcript. Similarity: MiniLM cosine (not "
        "the thesis's BERTScore). Seconds per audio minute: the speech and summary stages, "
        "loads excluded.",
        "",
    ]
    body = [
        [name, *(fmt(100 * r[k], ".1f") for k in
                 ("rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS", "embedding_similarity")),
         fmt(r["s_per_audio_minute"], ".1f"), fmt(r["peak_rss_mb"], ".0f"),
         f"{r['trained_params']:,}"]
        for name, r in rows.items()
    ]  # fmt: skip
    out += table(
        ["system", "ROUGE-1", "ROUGE-2", "ROUGE-L", "ROUGE-Lsum", "ROUGE-S", "similarity",
         "s / audio min", "peak RSS MB", "parameters trained"], body)  # fmt: skip
    if "oracle" in rows and "cascade" in rows:
        out += [""]
        for label, system in (("Error propagation (oracle - cascade)", "oracle"),
                              ("End-to-end - cascade", "e2e")):  # fmt: skip
            if system in rows:
                gaps = [
                    f"{_e2e_gap(rows[system], rows['cascade'], key)} {name} points"
                    for key, name in (("rouge1", "ROUGE-1"), ("rougeL", "ROUGE-L"))
                ]
                out.append(f"{label}: {', '.join(gaps)}.")
        spans = {s: document_interval(r.get("documents"), "rougeL") for s, r in rows.items()}
        if all(spans.values()):
            out.append("ROUGE-L, 95% interval of each system's mean over the clips: " + "; ".join(
                f"{s} {100 * rows[s]['rougeL']:.1f} {interval_text(*span, '.1f')}"
                for s, span in spans.items()) + ".")  # fmt: skip
        if all(OTHER in r for r in rows.values()):
            out.append(_blind_line(rows))
        if not all(r.get("documents") for r in rows.values()):
            out.append(f"No interval on {first['clips']} clips: this file predates per-clip "
                       "scores; its command, run again, keeps them.")  # fmt: skip
        elif first["clips"] < MIN_ITEMS:
            out.append(f"No interval: {first['clips']} clips, under the {MIN_ITEMS} a "
                       "bootstrap needs.")  # fmt: skip
    return out + [""]


def _blind_line(rows: dict[str, dict]) -> str:
    """Each system's ROUGE-L against the next clip's summary (bench.e2e's ``rougeL_other``)
    and its own minus that, paired over the clips: the part of the score this recording
    earns; near 0 means the summaries would score as well on any of these talks."""

    def own_minus_other(row: dict) -> str:
        docs = row.get("documents") or []
        other = [{"id": d.get("id"), "rougeL": d.get(OTHER)} for d in docs]
        gap = document_gap(other, docs, "rougeL") if all(OTHER in d for d in docs) else None
        return gap_text(gap, "+.1f") if gap else f"{100 * (row['rougeL'] - row[OTHER]):+.1f}"

    return (
        "Against the next clip's summary instead of its own (what a summary blind to the "
        "speech scores), ROUGE-L: "
        + "; ".join(f"{s} {100 * r[OTHER]:.1f}" for s, r in rows.items())
        + ". Own minus other, clip by clip: "
        + "; ".join(f"{s} {own_minus_other(r)}" for s, r in rows.items())
        + "."
    )


def _e2e_gap(row: dict, cascade: dict, key: str = "rouge1") -> str:
    """``row - cascade`` in ``key`` points, with its 95% paired interval over the clips where
    both kept per-clip scores (``bench.e2e`` rows' ``documents``)."""
    gap = document_gap(cascade.get("documents"), row.get("documents"), key)
    return gap_text(gap, "+.1f") if gap else f"{100 * (row[key] - cascade[key]):+.1f}"


def latent_section(data: dict) -> list[str]:
    """Latent-space compression of summarizer decoders (bench.latent): size, time, memory."""
    meta, rows = data["meta"], data["rows"]
    out = ["## Latent-space decoder compression: sizes, speed and training memory", ""]
    out += [f"`{meta.get('command', 'python -m bench.latent')}`; ratios are to the plain "
            "model of the same rounds.", ""]  # fmt: skip
    rows_ = [
        [
            r["model"],
            r["variant"] if r["latent"] is None else f"latent {r['latent']}",
            fmt(r["decoder_params"] / 1e6, ".1f") + " M",
            fmt(r["decoder_params_ratio"]),
            fmt(r["generate_ratio"]),
            fmt(r["train_ratio"]),
            fmt(r["train_step_ratio"]),
        ]
        for r in rows
    ]
    header = ["model", "variant", "decoder params", "params ratio", "generate time ratio",
              "training memory ratio", "step time ratio"]  # fmt: skip
    out += table(header, rows_) + [""]
    out += [f"- {note}" for note in meta.get("notes", [])]
    return out + [""]


def _pct(value) -> str:
    return fmt(None if value is None else 100 * value, ".1f")


def latent_whisper_section(data: dict) -> list[str]:
    """Whisper with real weights behind a latent bottleneck (bench.latent_whisper)."""
    meta, rows = data["meta"], data["rows"]
    models = ", ".join(sorted({r["model"] for r in rows}))
    clips = max(r["clips"] for r in rows)
    probes = any(r["variant"] in RECONSTRUCTIONS for r in rows)
    title = (
        "How much of Whisper's encoder space carries the words"
        if probes
        else "Whisper with its decoder rebuilt at the latent width"
    )
    out = [f"## {title} ({models}, real weights)", ""]
    out += [f"`{meta.get('command', 'python -m bench.latent_whisper')}`: {clips} clips of the "
            f"manifest's {meta.get('options', {}).get('split', 'test')} split. *reconstruction*: "
            "the frozen decoder reads the autoencoder's reconstruction of the encoder output; "
            "*pca*: the same decoder reading the best linear projection through as many "
            "dimensions (fitted on train clips); *latent*: a decoder rebuilt at the latent "
            "width. FVU: the share of the encoder output's variance the reconstruction "
            f"misses. {NO_CLIP_OUTPUTS}", ""]  # fmt: skip
    order = {"original": 0, "reconstruction": 1, "pca": 2, "latent": 3}
    rows = sorted(rows, key=lambda r: (r["model"], order.get(r["variant"], 3), -(r["latent"] or 0)))
    body = [
        [
            r["model"],
            r["variant"] if r["latent"] is None else f"{r['variant']} {r['latent']}",
            _pct(r.get("wer")),
            _pct(r.get("cer")),
            fmt(r.get("reconstruction_fvu"), ".3f"),
            fmt(None if r.get("decoder_params") is None else r["decoder_params"] / 1e6, ".1f"),
            fmt(r.get("decoder_ratio")),
            r.get("run_id") or "–",
        ]
        for r in rows
    ]
    header = ["model", "variant", "WER %", "CER %", "FVU", "decoder params (M)",
              "decoder time / token ratio", "run"]  # fmt: skip
    out += table(header, body) + [""]
    out += [f"- {note}" for note in meta.get("notes", [])]
    return out + [""]


def _first(run, split: str) -> dict:
    """The step-0 evaluation line of ``split`` (the model before training), or {}."""
    lines = [m for m in run.metrics if m.get("split") == split and m.get("step") == 0]
    return lines[0] if lines else {}


NO_CLIP_OUTPUTS = (
    "WER is pooled over these clips with no interval: this evaluation keeps no per-clip output "
    "to resample."
)

# The bar for a low-rank model: this much smaller, and within this many WER points of
# the original fine-tuned the same way, on the corpus test split and on real speech.
TARGET_REDUCTION_PCT, TARGET_POINTS = 15.0, 0.5


def lowrank_rows(runs) -> list[dict]:
    """The low-rank study's conditions per Whisper model, from the checked-in runs: the
    original and the factorization before training (each run's step-0 evaluation), then every
    fine-tuned arm (its final test and real-speech scores)."""
    rescored = rescored_beside(runs)  # an original trained before runs kept per-clip outputs
    lowrank = [r for r in runs if r.system == "lowrank" and r.task == "asr"]
    models = sorted({r.model for r in lowrank})
    out = []
    for model in models:
        datasets = {r.dataset for r in lowrank if r.model == model}
        originals = sorted(  # full fine-tuning first: its step 0 is the untrained original
            (r for r in runs if r.task == "asr" and r.model == model and not r.system
             and r.precision == "fp32" and r.dataset in datasets),
            key=lambda r: r.method != "full",
        )  # fmt: skip
        factorized = sorted((r for r in lowrank if r.model == model), key=lambda r: r.started_at)
        untrained = [(r, "original, not fine-tuned") for r in originals[:1] if r.method == "full"]
        first_of = {}  # each factorization once, before training (its first run's step 0)
        for run in factorized:
            first_of.setdefault(lowrank_factorization(run), run)
        untrained += [(r, f"low-rank {where}, not fine-tuned") for where, r in first_of.items()]
        arms = originals + factorized
        usual = usual_epochs(arms)
        for run, name in untrained:
            test, real = _first(run, "test"), _first(run, "real-speech")
            if test:
                out.append(_condition(model, name, run, test, real, trained=False))
        # Each arm beside the original fine-tuned with its recipe: at the same seed where there
        # is one, else the newest such run. Only a finished original: its test line is after
        # training.
        finished = [r for r in originals if r.method == "full" and r.split("test").get("step")]
        same_way = {(r.dataset, recipe(r)): r for r in finished}  # on the arm's own corpus
        same_way.update({(r.dataset, recipe(r), seed_of(r)): r for r in finished})
        for run in arms:
            test = run.split("test")
            if test and test.get("step"):
                row = _condition(model, arm_name(run, usual), run, test, run.split("real-speech"))
                row.update(seed=seed_of(run), arm=arm_name(run, usual, seed=False))
                way = (run.dataset, recipe(run))
                original = same_way.get((*way, seed_of(run)), same_way.get(way))
                if run.system == "lowrank" and original is not None:
                    row.update(_versus(row, run, original, rescored))
                out.append(row)
    return out


def _versus(row: dict, run, original, rescored: dict) -> dict:
    """The arm's size and WER against the original fine-tuned the same way (points), with the
    95% paired interval of each WER gap where both runs kept each clip's output."""
    before = original.info.total_params if original.info else None
    test, real = original.split("test").get("wer"), original.split("real-speech").get("wer")
    gap = {"original_run": original.run_id}
    if before and row["params"]:
        gap["smaller_pct"] = 100 * (1 - row["params"] / before)
    if test is not None and row["test_wer"] is not None:
        gap["test_points"] = 100 * (row["test_wer"] - test)
    if real is not None and row["real_wer"] is not None:
        gap["real_points"] = 100 * (row["real_wer"] - real)
    for split, key in (("test", "test_interval"), ("real-speech", "real_interval")):
        kept = run_examples(original, split, same_manifest_row(original, split, rescored))
        found = wer_gap(kept, run_examples(run, split))
        gap[key] = found[1:] if found else None
    return gap


def meets_target(row: dict) -> bool:
    """At least TARGET_REDUCTION_PCT smaller and within TARGET_POINTS of the original fine-tuned
    the same way, on the test split and on real speech."""
    keys = ("smaller_pct", "test_points", "real_points")
    if any(row.get(k) is None for k in keys):
        return False
    close = (
        row["test_points"] <= TARGET_POINTS + 1e-9 and row["real_points"] <= TARGET_POINTS + 1e-9
    )
    return row["smaller_pct"] >= TARGET_REDUCTION_PCT and close


def _condition(model, name, run, test, real, trained=True) -> dict:
    info = run.info
    final = run.final if trained else {}
    steps = final.get("step") or 0
    return {
        "model": model, "condition": name, "corpus": run.dataset,
        "run_id": run.run_id if trained else f"{run.run_id} (step 0)",
        "params": info.total_params if info else None,
        "weights_mb": info.weights_footprint_mb if info else None,
        "trainable_pct": info.trainable_pct if (info and trained) else None,
        "test_wer": test.get("wer"), "real_wer": real.get("wer"),
        "orthogonality_error": test.get("orthogonality_error"),
        "seconds_per_step": final.get("seconds") / steps if steps else None,
        "peak_memory_mb": final.get("peak_memory_mb") if trained else None,
    }  # fmt: skip


def lowrank_section(runs) -> list[str]:
    """The low-rank conditions table (runs of training/grids/lowrank.yaml and the ASR grid)."""
    rows = lowrank_rows(runs)
    if not rows:
        return []
    out = ["## Low-rank Whisper: the conditions, from the checked-in runs", ""]
    out += ["`python -m training.grid training/grids/lowrank.yaml` (each run's command is in its "
            "run.json); "
            "WER on its corpus's test split (each corpus its own test set: compare an arm with "
            "the original on its corpus only) and on the real-speech clips. Seconds per step are "
            "wall time on a shared 2-core CPU (`python -m bench.lowrank --parts train` times "
            "them alone).", ""]  # fmt: skip
    body = [
        [
            r["model"], r["condition"], r["corpus"] or "–",
            fmt(None if r["params"] is None else r["params"] / 1e6, ".2f"),
            fmt(r["weights_mb"], ".0f"), fmt(r["trainable_pct"], ".1f"),
            _pct(r["test_wer"]), _pct(r["real_wer"]), _versus_cell(r),
            fmt(r["orthogonality_error"], ".2g"),
            fmt(r["seconds_per_step"], ".0f"), fmt(r["peak_memory_mb"], ".0f"),
            r["run_id"],
        ]
        for r in rows
    ]  # fmt: skip
    header = ["model", "condition", "corpus", "params (M)", "weights MB", "trainable %",
              "test WER %", "real-speech WER %", "vs original fine-tuned the same way",
              "orthogonality error", "s / step", "peak RSS MB", "run"]  # fmt: skip
    met = [r["run_id"] for r in rows if meets_target(r)]
    bar = (f"at least {TARGET_REDUCTION_PCT:g}% smaller, and within {TARGET_POINTS:g} WER "
           "points of the original fine-tuned the same way (same epochs, same keep-best) on "
           "the test split and on real speech")  # fmt: skip
    verdict = (f"Meets the bar ({bar}): {', '.join(met)}." if met
               else f"No arm meets the bar yet ({bar}).")  # fmt: skip
    seeds = seed_lines(seed_groups(rows), meets_target)
    return out + table(header, body) + ["", verdict, "", _lowrank_sample(runs, rows), "", *seeds]


def _lowrank_sample(runs, rows: list[dict]) -> str:
    """The clips the gaps rest on, and whether they carry intervals."""
    by_id = {r.run_id: r for r in runs}
    arms = [r for r in rows if r.get("test_points") is not None]
    clips = {split: sorted({int(n) for r in arms if (n := by_id[r["run_id"]].split(split)
                                                    .get("eval_samples"))})
             for split in ("test", "real-speech")}  # fmt: skip
    sizes = " and ".join(
        f"{' or '.join(map(str, n))} {split} clips" for split, n in clips.items() if n
    )
    without = sum(r.get("test_interval") is None for r in arms)
    text = (f"The gaps rest on {sizes or 'an unrecorded number of clips'}; a bracket is the "
            "95% paired interval over the clips (`demo.intervals`).")  # fmt: skip
    if without:
        text += (f" {without} of the {len(arms)} arms have none: they or their original predate "
                 "per-clip outputs (`predictions/`), which each run's run.json command, run "
                 "again, keeps.")  # fmt: skip
    return text


def _versus_cell(row: dict) -> str:
    """ "-15.1% size, test +0.4, real +0.9 points": the arm against its original."""
    if row.get("test_points") is None:
        return "–"
    size = f"{-row['smaller_pct']:+.1f}% size, " if row.get("smaller_pct") is not None else ""
    real = ""
    if row.get("real_points") is not None:
        real = f", real {row['real_points']:+.1f}{_bracket(row.get('real_interval'))}"
    return f"{size}test {row['test_points']:+.1f}{_bracket(row.get('test_interval'))}{real} points"


def _bracket(interval) -> str:
    return f" {interval_text(*interval)}" if interval else ""

"""Write ``assets/benchmarks.md`` (and its charts) from the result files in checkpoints/bench/.

    python -m bench.report                    # after python -m bench.asr / bench.memory
    python -m bench.report --no-images        # tables only (no kaleido / browser needed)

Reads ``asr-cpu.json`` (or, if there is none, the quick run's ``quick/asr-cpu.json``),
``memory.json``, ``gpu.json``, the summarizers' ``summarize-*.json`` (bench.report_summarize)
and the research systems' files (bench.report_systems) where
they exist; every number in the report comes from them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.accuracy import MIN_POOLED_WORDS
from bench.click import click_section
from bench.env import DEFAULT_OUT, ROOT, decoding_label, read_results
from bench.markdown import fmt as _num
from bench.markdown import table as _table
from bench.report_grid import grid_section
from bench.report_summarize import spoken_dev_section, summarizer_section
from bench.report_systems import systems_sections

MODULE = "bench.report"
DEFAULT_REPORT = ROOT / "assets" / "benchmarks.md"
FAST_MODE = "fast-int8"


def _ratio(part, whole) -> str:
    return "–" if part is None or not whole else f"{part / whole:.2f}"


def _machine(meta: dict) -> list[str]:
    m, v = meta.get("machine", {}), meta.get("versions", {})
    flags = ", ".join(m.get("cpu_flags", [])) or "none of note"
    gpus = m.get("gpus") or ([m["gpu"]] if m.get("gpu") else [])
    gpu = (
        f"; GPU {', '.join(gpus)} ({m.get('gpu_memory_gb')} GB, CUDA {m.get('cuda')})"
        if gpus
        else ""
    )
    versions = ", ".join(f"{k} {val}" for k, val in v.items())
    load = f"{meta.get('loadavg_start')} → {meta.get('loadavg_end')}"
    return [
        f"- Command: `{meta.get('command')}` ({meta.get('date')}, commit {meta.get('git_commit')})",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} logical cores, {m.get('memory_gb')} GB RAM"
        f" (SIMD: {flags}){gpu}; {m.get('os')}, Python {m.get('python')}",
        f"- Versions: {versions}",
        f"- Load average (1/5/15 min) at start → end: {load}",
    ]


def _asr_section(data: dict, quick: bool, title: str = "") -> list[str]:
    meta, rows = data["meta"], data["rows"]
    out = [title or "## CPU speech recognition beside faster-whisper", ""]
    out += [f"`{meta['command']}`", ""] if meta.get("command") else []
    if quick:
        out += ["*From the quick run (tiny.en, jfk, greedy); run `make bench` for all of it.*", ""]
    out += _machine(meta)
    out += [
        f"- Threads: {meta.get('threads')} for every engine (torch intra-op, CTranslate2 "
        "`cpu_threads`).",
        "",
        "The machine is shared with other jobs and noisy: absolute times move from run to run, "
        "so every engine is given as a **ratio to faster-whisper int8 measured in the same "
        "interleaved rounds** (below 1 = faster than faster-whisper int8; speed-up is the "
        "inverse). Latency is the minimum of the runs (`runs`). RTFx = audio seconds / "
        "processing seconds. WER is normalised (demo.metrics). Weights: bytes of weights and "
        "buffers (CTranslate2 doesn't expose them); peak RSS: the whole process (interpreter "
        "and libraries included) during load + one run of every clip, each engine alone.",
        "",
    ]
    clips = meta.get("clips", {})
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["clip"], row["decoding"]), []).append(row)
    for (model, clip, decoding), group in groups.items():
        seconds = clips.get(clip, {}).get("seconds", group[0]["audio_s"])
        out += [f"### {model} · {clip} ({seconds:.1f} s) · {decoding}", ""]
        group = sorted(group, key=lambda r: r["ratio_to_fw_int8"] or 1e9)
        table = []
        for r in group:
            name = f"**{r['quant']}**" if r["quant"] == FAST_MODE else r["quant"]
            table.append(
                [
                    name,
                    r["engine"],
                    _num(r["ratio_to_fw_int8"], ".2f") + "x",
                    _num(r["speedup_vs_fw_int8"], ".2f") + "x",
                    _num(r["rtfx"], ".1f"),
                    _num(r["wer"], ".3f"),
                    _num(r["load_s"], ".2f"),
                    _num(r["weights_mb"], ".0f"),
                    _num(r["peak_rss_mb"], ".0f"),
                    str(r["runs"]),
                ]
            )
        header = [
            "mode",
            "engine",
            "time / fw-int8",
            "speed-up",
            "RTFx",
            "WER",
            "load s",
            "weights MB",
            "peak RSS MB",
            "runs",
        ]
        out += _table(header, table) + [""]
    out += _fast_summary(rows)
    for note in meta.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def _fast_summary(rows: list[dict]) -> list[str]:
    fast = [r for r in rows if r["quant"] == FAST_MODE and r["ratio_to_fw_int8"]]
    if not fast:
        return []
    out = ["**fast-int8 against faster-whisper int8** (speed-up; WER fast-int8 / fw-int8):", ""]
    for r in fast:
        base = next(
            (
                b
                for b in rows
                if b["quant"] == "fw-int8"
                and (b["model"], b["clip"], b["decoding"]) == (r["model"], r["clip"], r["decoding"])
            ),
            None,
        )
        base_wer = _num(base["wer"], ".3f") if base else "–"
        out.append(
            f"- {r['model']} · {r['clip']} · {r['decoding']}: "
            f"{r['speedup_vs_fw_int8']:.2f}x faster, WER {r['wer']:.3f} / {base_wer}"
        )
    ablations = [r for r in rows if r["engine"] == "demo-ablation"]
    if ablations:
        out += [
            "",
            "Ablations (fast-int8 with one choice undone; `~enc-int8` is what fast-int8 "
            "runs on a CPU without native bf16): "
            + "; ".join(
                f"{r['quant']} {r['ratio_to_fw_int8']:.2f}x ({r['model']} {r['clip']} "
                f"{r['decoding']}, WER {r['wer']:.3f})"
                for r in ablations
            ),
        ]
    return out + [""]


def _memory_section(data: dict, image: str | None) -> list[str]:
    meta, table = data["meta"], data.get("comparison", [])
    out = ["## Whisper weights per precision: the thesis' Table 4.2, measured", ""]
    out += _machine(meta) + [""]
    rows = []
    for e in table:
        rows.append(
            [
                e["size"],
                _num(e["params_m"], ".1f"),
                _num(e.get("fp32_mb"), ".0f"),
                _num(e.get("fp16_mb"), ".0f"),
                _num(e.get("thesis_fp16_mb"), ".0f"),
                _num(e.get("int8_mb"), ".0f"),
                _num(e.get("thesis_int8_mb"), ".0f"),
                _num(e.get("int8_cpu_mb"), ".0f"),
                _num(e.get("nf4_mb"), ".0f"),
                _num(e.get("thesis_nf4_mb"), ".0f"),
                _num(e.get("nf4_cpu_mb"), ".0f"),
                _num(e.get("int8_unquantized_mb"), ".0f"),
            ]
        )
    header = [
        "size",
        "params M",
        "fp32",
        "fp16",
        "thesis fp",
        "int8",
        "thesis int8",
        "int8 (fp32 rest)",
        "nf4",
        "thesis int4",
        "nf4 (fp32 rest)",
        "left unquantized",
    ]
    out += ["Weights in MiB (thesis: MB as printed).", ""] + _table(header, rows) + [""]
    if image:
        out += [f"![Weights per precision, measured and reported]({image})", ""]
    ratios = []
    for e in table:
        ratios.append(
            [
                e["size"],
                _ratio(e.get("int8_mb"), e.get("fp16_mb")),
                _ratio(e.get("thesis_int8_mb"), e.get("thesis_fp16_mb")),
                _ratio(e.get("nf4_mb"), e.get("fp16_mb")),
                _ratio(e.get("thesis_nf4_mb"), e.get("thesis_fp16_mb")),
                _ratio(e.get("int8_unquantized_mb"), e.get("int8_mb")),
            ]
        )
    header = ["size", "int8/fp16", "thesis", "nf4/fp16", "thesis", "unquantized share of int8"]
    out += ["Sizes relative to fp16:", ""] + _table(header, ratios) + [""]
    out += [
        "Why they differ: bitsandbytes quantizes only the `nn.Linear` layers of the encoder "
        "and decoder blocks. The token embedding (vocabulary x d_model, tied with `proj_out`, "
        "which the app keeps unquantized), the positional embeddings, both convolutions, the "
        "layer norms and the biases stay in fp16 ('left unquantized'). That part is a fixed "
        "cost that is about three quarters of tiny's int8 model but a tenth of "
        "large-v3's, so our ratios fall with size towards 1/2 and 1/4 plus the scales (LLM.int8 "
        "keeps one fp32 scale per row; NF4 one fp32 absmax per 64 weights, +0.5 bit per "
        "weight). The thesis' ratios stay near 0.55-0.6 and 0.3 at every size, so its small "
        "models can't have kept the embedding in fp16; it doesn't say how its 'stored size' "
        "was measured. On a CPU the app keeps the unquantized parts in fp32 ('fp32 rest').",
        "",
    ]
    trainable = []
    for e in table:
        trainable.append(
            [
                e["size"],
                _num(e.get("lora_pct"), ".2f"),
                _num(e.get("adalora_pct"), ".2f"),
                _num(e.get("adalora_budget_pct"), ".2f"),
                _num(e.get("thesis_adalora_pct"), ".1f"),
            ]
        )
    tr = data.get("trainable", [{}])[0]
    out += [
        "### Trainable parameters (% of the model with its adapter)",
        "",
        f"Ranks as the training scripts default to: LoRA r={tr.get('lora_r')} on "
        f"{', '.join(tr.get('lora_targets', []))}; AdaLoRA init_r={tr.get('adalora_init_r')} "
        f"→ target_r={tr.get('adalora_target_r')} on "
        f"{', '.join(tr.get('adalora_targets', []))} (PEFT's Whisper AdaLoRA example).",
        "",
    ]
    header = ["size", "LoRA %", "AdaLoRA % (init_r)", "AdaLoRA % (target_r budget)", "thesis"]
    out += _table(header, trainable) + [""]
    out += [
        "PEFT counts AdaLoRA's parameters at init_r (pruned ranks stay allocated but masked); "
        "at the final average rank the share is target_r/init_r of that. A rank-r adapter on "
        "a d x d projection adds 2rd parameters to d^2, so at fixed ranks the share falls as "
        "the model widens, as measured here; the thesis' share grows with size instead, which "
        "a fixed rank can't give (its ranks or target modules must have differed by size).",
        "",
    ]
    for note in meta.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def _accuracy_section(data: dict) -> list[str]:
    meta, rows = data["meta"], data["rows"]
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    out = ["## Accuracy of each CPU mode against full precision", ""]
    out += [
        f"`{meta.get('command', 'python -m bench.accuracy')}`: WER % per clip, greedy, with "
        "the gap to full precision in points. A mode may be the `auto` default when its WER "
        f"pooled over all clips is within {meta.get('max_gap_points')} points of full "
        f"precision's and it loses at most {meta.get('max_clip_words')} word on any one clip.",
        "",
    ]
    table = []
    verdicts = {(v["model"], v["quant"]): v for v in meta.get("verdicts", [])}
    for key in dict.fromkeys((r["model"], r["quant"]) for r in rows):
        cells = {r["clip"]: r for r in rows if (r["model"], r["quant"]) == key}
        verdict = verdicts.get(key, {})
        table.append(
            [f"{key[0]} {key[1]}"]
            + [
                f"{100 * cells[c]['wer']:.2f} ({cells[c]['gap_points']:+.1f})"
                if c in cells
                else "–"
                for c in clips
            ]
            + [
                _num(100 * verdict["pooled_wer"]) if verdict else "–",
                _num(verdict.get("pooled_gap_points"), "+.2f"),
                {True: "yes", False: "no"}.get(verdict.get("may_be_default"), "–"),
            ]
        )
    out += _table(["model / mode", *clips, "pooled WER", "gap", "default?"], table)
    return out + [""]


def _real_speech_section(data: dict) -> list[str]:
    """``bench.accuracy`` on the real-speech set: each mode's pooled WER, word errors and gap
    to full precision, and whether it meets the ``auto`` rule there."""
    meta = data["meta"]
    verdicts = meta.get("verdicts", [])
    out = ["## Accuracy of each CPU mode on real human speech", ""]
    out += [
        f"`{meta.get('command', 'python -m bench.accuracy')}`: the real-speech set "
        "([assets/corpora/real-speech.md](corpora/real-speech.md)), greedy. A mode may be the "
        f"`auto` default when its WER pooled over these words is within "
        f"{meta.get('max_gap_points')} points of full precision's (the pooled rule, on at "
        f"least {MIN_POOLED_WORDS:,} words) and it loses at most "
        f"{meta.get('max_clip_words')} word on any one clip.",
        "",
    ]
    table = [
        [f"{v['model']} {v['quant']}", str(v["clips"]), f"{v['words']:,}",
         _num(100 * v["pooled_wer"]), f"{v['pooled_wer'] * v['words']:.0f}",
         _num(v["pooled_gap_points"], "+.2f"), _num(v["worst_clip_words_lost"], "+.0f"),
         {True: "yes", False: "no"}.get(v.get("meets_pooled_rule"), "–"),
         {True: "yes", False: "no"}.get(v.get("may_be_default"), "–")]
        for v in verdicts
    ]  # fmt: skip
    header = ["model / mode", "clips", "reference words", "pooled WER %", "word errors",
              "gap (points)", "most words lost on a clip",
              f"pooled rule (≥{MIN_POOLED_WORDS:,} words)", "default? (+ clip rule)"]  # fmt: skip
    return out + _table(header, table) + [""]


LOOP_WER = 0.6  # a clip this far off is a decoding loop (no temperature fallback), not errors


def _corpus_accuracy_section(results: list[dict]) -> list[str]:
    """``bench.accuracy --manifest`` results (one per decoding): pooled WER of each engine
    over a corpus's clips and its gap to the run's baseline, in words and points, and the
    pooled WER again without the clips where any engine looped (``LOOP_WER``)."""
    out = ["## Long-form WER beside faster-whisper, pooled over a corpus", ""]
    table = []
    for data in results:
        meta, rows = data["meta"], data["rows"]
        out.append(f"- `{meta.get('command', 'python -m bench.accuracy')}`")
        decoding = decoding_label(meta.get("options", {}).get("beams", 1))
        for v in meta.get("verdicts", []):
            mine = [r for r in rows if (r["model"], r["quant"]) == (v["model"], v["quant"])]
            same = [r for r in rows if r["model"] == v["model"]]
            looped = {r["clip"] for r in same if r["wer"] > LOOP_WER}
            kept = [r for r in mine if r["clip"] not in looped]
            words = sum(r["reference_words"] for r in kept)
            clean = sum(r["wer"] * r["reference_words"] for r in kept) / words if words else None
            table.append(
                [f"{v['model']} {v['quant']}", decoding, str(v["clips"]), str(v["words"]),
                 _num(100 * v["pooled_wer"]), f"{v['pooled_wer'] * v['words']:.0f}",
                 f"{v['pooled_gap_points'] * v['words'] / 100:+.0f}",
                 _num(v["pooled_gap_points"], "+.2f"),
                 str(sum(r["wer"] > LOOP_WER for r in mine)),
                 _num(None if clean is None else 100 * clean)]
            )  # fmt: skip
    first = results[0]["meta"].get("options", {})
    out += [
        "",
        f"Clips: the first {first.get('max_clips') or 'all'} `{first.get('split')}` clips of "
        f"`{first.get('manifest')}` (spoken ACLSum abstracts, 60-90 s each: several espeak-ng "
        f"voices, speeds and noise levels), each over 30 s, so every engine takes its "
        f"long-form path. Gap: against `{first.get('baseline')}` on the same "
        f"clips (negative: fewer errors). Loops: clips over {100 * LOOP_WER:.0f}% WER (a "
        "repeated phrase: both engines run without temperature fallback); the last column "
        "pools the clips where no engine of the model looped.",
        "",
    ]
    out += _table(
        ["model / mode", "decoding", "clips", "words", "pooled WER %", "errors",
         "gap (words)", "gap (points)", "loops", "WER % without loops"], table)  # fmt: skip
    return out + [""]


def _gpu_section(data: dict) -> list[str]:
    meta, rows = data["meta"], data["rows"]
    out = ["## GPU throughput", ""] + _machine(meta) + [""]
    table = []
    for r in rows:
        if r.get("error"):
            table.append([r["config"], r["weights"], "failed", "", "", r["error"][:80]])
            continue
        table.append(
            [
                r["config"],
                r["weights"],
                _num(r["rtfx"], ".0f"),
                _num(r["tokens_per_window"], ".1f"),
                _num(r["wer"], ".3f"),
                _num(r["cuda_peak_mb"], ".0f"),
            ]
        )
    header = ["configuration", "weights", "RTFx", "tokens / window", "WER", "CUDA peak MB"]
    out += _table(header, table) + [""]
    for note in meta.get("notes", []):
        out.append(f"- {note}")
    return out + [""]


def _images(memory: dict | None, asr: dict | None, folder: Path) -> dict[str, Path]:
    from dashboard.charts.compare import bench_latency
    from dashboard.charts.cost import memory_per_precision
    from dashboard.charts.export import save_figures

    figures = {}
    if memory:
        figures["memory"] = memory_per_precision(memory["rows"], show_reported=True)
    if asr:
        rows = [r for r in asr["rows"] if r["clip"] == "jfk" and r["decoding"] == "greedy"]
        figures["asr-cpu-latency"] = bench_latency(rows)
    return dict(zip(figures, save_figures(figures, folder, suffixes=(".png",)), strict=True))


def build(folder: Path = DEFAULT_OUT, report: Path = DEFAULT_REPORT, images: bool = True) -> Path:
    """Write the report from what is in ``folder``; returns its path."""
    asr = read_results(folder / "asr-cpu.json")
    quick = asr is None
    if quick:
        asr = read_results(folder / "quick" / "asr-cpu.json")
    memory = read_results(folder / "memory.json")
    gpu = read_results(folder / "gpu.json")
    pictures = _images(memory, asr, folder) if images else {}

    def rel(key):
        path = pictures.get(key)
        if path is None:
            return None
        return os.path.relpath(Path(path).resolve(), report.parent.resolve())

    lines = [
        "# Benchmarks",
        "",
        f"Generated by `python -m {MODULE}` from the result files in `checkpoints/bench/` "
        "(JSON with every run and CSV); edit those runs, not this file. Reproduce with "
        "`make bench` (CPU) and `make bench-gpu` (CUDA machine).",
        "",
    ]
    if asr:
        lines += _asr_section(asr, quick)
        if rel("asr-cpu-latency"):
            lines += [f"![Latency per configuration, jfk greedy]({rel('asr-cpu-latency')})", ""]
    else:
        lines += ["## CPU speech recognition", "", "No results yet: run `make bench`.", ""]
    longform = read_results(folder / "asr-cpu-longform.json")
    if longform:  # the default mode on short and 5-minute clips beside both faster-whisper peers
        title = "## The default mode on short and long-form audio, beam search included"
        lines += _asr_section(longform, False, title)
    accuracy = read_results(folder / "accuracy.json")
    if accuracy:
        lines += _accuracy_section(accuracy)
    real = read_results(folder / "accuracy-real.json")
    if real:  # bench.accuracy on the real-speech set (training.corpora.make_real_speech)
        lines += _real_speech_section(real)
    corpus = [r for p in sorted(folder.glob("accuracy-talks*.json")) if (r := read_results(p))]
    if corpus:  # bench.accuracy --manifest: long-form WER beside faster-whisper
        lines += _corpus_accuracy_section(corpus)
    if memory:
        lines += _memory_section(memory, rel("memory"))
    click = read_results(folder / "click.json")
    if click:  # time to a first result, and a clip end to end (bench.click)
        lines += click_section(click)
    lines += grid_section()
    lines += spoken_dev_section(folder)
    lines += summarizer_section(folder)
    lines += systems_sections(folder)
    if gpu:
        lines += _gpu_section(gpu)
    else:
        lines += [
            "## GPU throughput",
            "",
            "Not measured here (no GPU on this machine): `make bench-gpu` on a CUDA machine "
            "writes `checkpoints/bench/gpu.json`, which this report then includes.",
            "",
        ]
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    p.add_argument("--results", default=str(DEFAULT_OUT))
    p.add_argument("--report", default=str(DEFAULT_REPORT))
    p.add_argument("--no-images", action="store_false", dest="images")
    args = p.parse_args(argv)
    path = build(Path(args.results), Path(args.report), args.images)
    print(f"written: {path}")


if __name__ == "__main__":
    main()

"""Write ``assets/benchmarks.md`` (and its charts) from the result files in checkpoints/bench/.

    python -m results.report                    # after python -m bench.asr / bench.memory
    python -m results.report --no-images        # tables only (no kaleido / browser needed)

Reads ``asr-cpu.json`` (or, if there is none, the quick run's ``quick/asr-cpu.json``),
``memory.json``, ``gpu.json``, the summarizers' ``summarize-*.json`` (results.report_summarize)
and the research systems' files (results.report_systems) where
they exist; every number in the report comes from them.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.env import DEFAULT_OUT, ROOT, read_results
from bench.markdown import fmt as _num
from bench.markdown import table as _table
from results.charts.compare import bench_latency
from results.charts.cost import memory_per_precision
from results.charts.export import save_figures
from results.report_accuracy import accuracy_section, corpus_accuracy_section, real_speech_section
from results.report_grid import grid_section
from results.report_grid_v2 import grid_v2_section
from results.report_longform import longform_section
from results.report_speed import speed_section
from results.report_summarize import spoken_dev_section, summarizer_section
from results.report_systems import systems_sections
from results.report_transcripts import click_section, no_speech_section

MODULE = "results.report"
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
    lines += speed_section(folder)  # bench.asr asr-speed*: the goals per cell (make bench-speed)
    accuracy = read_results(folder / "accuracy.json")
    if accuracy:
        lines += accuracy_section(accuracy)
    real = read_results(folder / "accuracy-real.json")
    if real:  # bench.accuracy on the real-speech set (training.corpora.make_real_speech)
        lines += real_speech_section(real)
    corpus = [r for p in sorted(folder.glob("accuracy-talks*.json")) if (r := read_results(p))]
    if corpus:  # bench.accuracy --manifest: long-form WER beside faster-whisper
        lines += corpus_accuracy_section(corpus)
    if memory:
        lines += _memory_section(memory, rel("memory"))
    click = read_results(folder / "click.json")
    if click:  # time to a first result, and a clip end to end (bench.click)
        lines += click_section(click)
    lines += longform_section(folder)  # bench.longform: words kept on natural-rate programmes
    lines += no_speech_section(folder)  # bench.no_speech: words written over no speech
    lines += grid_section()
    lines += grid_v2_section()
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

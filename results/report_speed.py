"""The speed-goals section of ``assets/benchmarks.md`` (issue 37): the default engine against
the faster of faster-whisper int8 and whisper.cpp's fastest quantization, in every cell (model,
clip, decoding, threads, idle or beside a busy process), with WER beside every time, and the
summarizer's decode speed against llama.cpp.

Reads the ``bench.asr`` result files named ``asr-speed*.json`` (``make bench-speed``: one
file per thread count and load) and ``summarize-peers.json`` (``make bench-peers``).
"""

from __future__ import annotations

from pathlib import Path

from bench.asr import CAP_X
from bench.env import read_results
from bench.markdown import fmt, table

OURS = "fast-int8"  # the app's CPU mode
FW = "fw-int8"
BATCHED = "fw-batched8"  # long-form peer
WCPP = "wcpp-"  # whisper.cpp's quantizations: wcpp-f16, wcpp-q8_0, wcpp-q5_0
GOAL = 0.80  # our time / the faster peer's, at equal or better WER
COMMAND = "make bench-speed"


def _cells(rows: list[dict]) -> dict[tuple, dict[str, dict]]:
    """Rows grouped by cell (model, clip, decoding, threads, load), keyed by engine."""
    cells: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        key = (row["model"], row["clip"], row["decoding"], row["threads"], row.get("load", "idle"))
        cells.setdefault(key, {})[row["quant"]] = row
    return cells


def best_wcpp(engines: dict[str, dict]) -> dict | None:
    """whisper.cpp's fastest quantization in a cell."""
    found = [row for quant, row in engines.items() if quant.startswith(WCPP)]
    return min(found, key=lambda r: r["latency_s"]) if found else None


def cell_verdicts(rows: list[dict]) -> list[dict]:
    """One verdict per cell where the default engine ran: its time against each peer's, the
    faster peer, and whether the goal holds there (at most ``GOAL`` of its time, WER no worse)."""
    out = []
    for (model, clip, decoding, threads, load), engines in _cells(rows).items():
        ours = engines.get(OURS)
        if ours is None:
            continue
        wcpp = best_wcpp(engines)
        peers = [p for p in (engines.get(FW), wcpp) if p is not None]
        faster = min(peers, key=lambda r: r["latency_s"]) if peers else None
        ratio = ours["latency_s"] / faster["latency_s"] if faster else None
        batched = engines.get(BATCHED)
        out.append({
            "model": model, "clip": clip, "audio_s": ours["audio_s"], "decoding": decoding,
            "threads": threads, "load": load, "ours": ours, "fw": engines.get(FW),
            "wcpp": wcpp, "faster": faster, "ratio": ratio, "batched": batched,
            "fast": None if ratio is None else ratio <= GOAL,
            "wer_ok": None if ratio is None else ours["wer"] <= faster["wer"],
            "vs_batched": ours["latency_s"] / batched["latency_s"] if batched else None,
        })  # fmt: skip
        out[-1]["met"] = None if ratio is None else out[-1]["fast"] and out[-1]["wer_ok"]
    return out


def worst_cells(verdicts: list[dict]) -> dict[str, dict]:
    """Per peer (faster-whisper int8, whisper.cpp's best, the batched pipeline on long
    clips): the cell where our time is the largest share of its time."""
    worst: dict[str, dict] = {}
    for peer, key in (("faster-whisper int8", "fw"), ("whisper.cpp (fastest quantization)",
                      "wcpp"), ("faster-whisper batched8 (long-form)", "batched")):  # fmt: skip
        found = [(v["ours"]["latency_s"] / v[key]["latency_s"], v) for v in verdicts if v[key]]
        if found:
            ratio, cell = max(found, key=lambda f: f[0])
            worst[peer] = {"ratio": ratio, "cell": cell, "capped": bool(cell[key].get("capped"))}
    return worst


def _time(row: dict | None, name: bool = False) -> str:
    if row is None:
        return "–"
    label = f"{row['quant'].removeprefix(WCPP)} " if name else ""
    if row.get("capped"):  # bench.asr stopped its run at the cap: a lower bound, no text
        return f"{label}over {row['latency_s']:.0f} s (stopped)"
    return f"{label}{row['latency_s']:.2f} s ({100 * row['wer']:.1f}%)"


def _goal(v: dict) -> str:
    """``met``, or what missed it: the time, the WER or both."""
    if v["met"] is None:
        return "–"
    if v["met"]:
        return "met"
    return "**missed**: " + " and ".join(["time"] * (not v["fast"]) + ["WER"] * (not v["wer_ok"]))


def _cell_label(v: dict) -> str:
    return f"{v['model']} · {v['clip']} ({v['audio_s']:.0f} s) · {v['decoding']}"


def speed_section(folder: Path) -> list[str]:
    """The section's lines; empty when no ``asr-speed*.json`` is there."""
    files = [
        data for path in sorted(folder.glob("asr-speed*.json")) if (data := read_results(path))
    ]
    rows = [row for data in files for row in data["rows"]]
    if not rows:
        return []
    verdicts = cell_verdicts(rows)
    met = [v for v in verdicts if v["met"]]
    fast = [v for v in verdicts if v["fast"]]
    lines = [
        "## Speed goals: the default engine against the faster peer, idle and on a busy machine",
        "",
        f"`{COMMAND}` (`python -m bench.asr`, one file per thread count and load). Each engine "
        "runs in a process of its own, interleaved, minimum of the repeats; WER (normalised, "
        "the clip's own reference) beside every time. *Busy*: a CPU-bound process at nice 10 "
        "beside the engines (`bench.coload`). Goal: the default engine (`fast-int8`) at most "
        f"{GOAL:.2f}x the time of the faster of faster-whisper int8 and whisper.cpp's fastest "
        "quantization, at a WER no worse; on long clips, no slower than faster-whisper's "
        f"batched pipeline. A run still going after {CAP_X:g}x faster-whisper int8's time on "
        'the cell is stopped ("over N s (stopped)": a lower bound, no text to score). '
        f"Met in **{len(met)} of {len(verdicts)}** cells; the time goal alone in {len(fast)} "
        "(a WER a word or two worse on one clip misses it: one clip's WER is noisy; the WER "
        'pooled over programmes and copies, with intervals, is in "Long recordings at a '
        'natural pace").',
        "",
    ]
    header = ["cell", "threads", "load", "fast-int8", "fw-int8", "whisper.cpp (fastest)",
              "vs the faster", "goal", "fw-batched8", "vs batched"]  # fmt: skip
    body = [
        [
            _cell_label(v),
            str(v["threads"]),
            v["load"],
            _time(v["ours"]),
            _time(v["fw"]),
            _time(v["wcpp"], name=True),
            fmt(v["ratio"], ".2f") + "x" * (v["ratio"] is not None),
            _goal(v),
            _time(v["batched"]),
            fmt(v["vs_batched"], ".2f") + "x" * (v["vs_batched"] is not None),
        ]  # fmt: skip
        for v in verdicts
    ]
    lines += table(header, body) + [""]
    worst = worst_cells(verdicts)
    if worst:
        lines += ["Worst cell per peer (our time / the peer's):", ""]
        lines += [
            f"- {peer}: {'at most ' * w['capped']}{w['ratio']:.2f}x at {_cell_label(w['cell'])}, "
            f"{w['cell']['threads']} thread(s), {w['cell']['load']}"
            for peer, w in worst.items()
        ]
        lines.append("")
    lines += _llm_lines(folder)
    dates = sorted({data["meta"].get("date", "?")[:10] for data in files})
    lines += [f"Measured {', '.join(dates)}; commands in each file's `meta.command`.", ""]
    return lines


def _llm_lines(folder: Path) -> list[str]:
    """The summarizer's decode speed beside llama.cpp's on the same GGUF, with ROUGE-L."""
    data = read_results(folder / "summarize-peers.json")
    if not data:
        return []
    rows = [r for r in data["rows"] if r.get("decode_tokens_per_s")]
    header = ["engine", "threads", "decode tokens/s", "prefill tokens/s", "ROUGE-L"]
    body = [
        [
            r["engine"],
            str(r["threads"]),
            fmt(r["decode_tokens_per_s"], ".1f"),
            fmt(r["prefill_tokens_per_s"], ".0f"),
            fmt((r.get("scores") or {}).get("rougeL"), ".3f"),
        ]  # fmt: skip
        for r in rows
    ]
    peer = next((r for r in rows if r["engine"].startswith("llama.cpp")), None)
    return ["Summarizer decode speed beside llama.cpp (`make bench-peers`):", "",
            *table(header, body), "", *_profile_lines(folder, peer)]  # fmt: skip


def _profile_lines(folder: Path, peer: dict | None) -> list[str]:
    """Where a decode step of the int4 summarizer goes (``bench.llm_profile``), and the gap to
    llama.cpp's time per token."""
    lines = []
    for path in sorted(folder.glob("llm-profile*.json")):
        data = read_results(path)
        for row in data["rows"] if data else []:
            parts = sorted(row["parts_ms"].items(), key=lambda kv: -kv[1])
            share = ", ".join(f"{part} {ms:.2f}" for part, ms in parts)
            gap = ""
            if peer:
                theirs = 1000 / peer["decode_tokens_per_s"]
                gap = f"; llama.cpp: {theirs:.2f} ms a token ({peer['threads']} thread(s))"
            lines.append(
                f"- Where a decode step of {row['mode']} goes (`{data['meta']['command']}`, "
                f"{row['threads']} thread(s)): {row['ms_per_step']:.2f} ms a step unprofiled, "
                f"{row['weights_mb_per_step']:.0f} MB of weights read = "
                f"{row['gb_per_s']:.1f} GB/s; profiled, in ms: {share}{gap}."
            )
    return lines + [""] if lines else []

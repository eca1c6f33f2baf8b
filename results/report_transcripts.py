"""Report sections of the transcript benches: what a click costs (bench.click) and the words
written where nobody speaks, with what segments and word times cost (bench.no_speech)."""

from __future__ import annotations

from pathlib import Path

from bench.env import read_results
from bench.markdown import fmt, table
from bench.no_speech import NAME as NO_SPEECH


def click_section(data: dict) -> list[str]:
    """The section from ``click.json`` (bench.click)."""
    meta_, rows = data["meta"], data["rows"]
    load = f"{meta_.get('loadavg_start')} → {meta_.get('loadavg_end')}"
    out = ["## What a click costs: first use, and a clip end to end", ""]
    out += [f"`{meta_.get('command')}` ({meta_.get('date')}, commit {meta_.get('git_commit')}, "
            f"load average at start → end {load}). Seconds of one machine, so noisy: the "
            "minimum of the in-memory runs is given.", ""]  # fmt: skip
    first = [r for r in rows if r["kind"] == "first-use"]
    if first:
        out += ["First use, in a fresh process: the imports (torch, transformers, once per app "
                "start), then the model's load with an empty cache folder (the bundled weights "
                "converted into it) and again once they are there.", ""]  # fmt: skip
        out += table(
            ["model", "imports s", "first load (convert + load) s", "warm load s"],
            [[r["model"], fmt(r["import_s"], ".1f"), fmt(r["first_s"], ".1f"),
              fmt(r["warm_s"], ".1f")] for r in first],
        ) + [""]  # fmt: skip
    clicks = [r for r in rows if r["kind"] == "click"]
    if clicks:
        seconds = clicks[0]["audio_s"]
        out += [f"One click in the app's pipeline on {seconds:.0f} s of speech (the 5-minute "
                "espeak-ng clip's start), auto modes, greedy: the first run loads the models "
                "(already converted), later runs find them in memory.", ""]  # fmt: skip
        out += table(
            ["Whisper", "mode", "summarizer", "first click s (load included)",
             "click s (in memory)", "transcription s", "summary s", "peak RSS MB"],
            [[r["model"], r["quant"] or "–", r["summarizer"], fmt(r["first_s"], ".1f"),
              fmt(r["warm_s"], ".1f"), fmt(r["asr_s"], ".1f"), fmt(r["summarize_s"], ".1f"),
              fmt(r["peak_rss_mb"], ".0f")] for r in clicks],
        ) + [""]  # fmt: skip
    return out


def no_speech_section(folder: Path) -> list[str]:
    """The section from ``no-speech.json`` (bench.no_speech); [] without it."""
    data = read_results(Path(folder) / f"{NO_SPEECH}.json")
    if not data:
        return []
    m, rows = data["meta"], data["rows"]
    out = ["## Silence, music and noise: words written where nobody speaks", ""]
    out += [f"`{m.get('command')}` ({m.get('date')}, commit {m.get('git_commit')}). tiny.en, "
            "greedy. Words each mode writes on ten clips without speech (bench.silence_clips), "
            "before and after the no-speech gate (per window: no-speech probability over "
            f"{m.get('no_speech_threshold', 0.6)} with an average log-probability under -1, as "
            "openai/whisper; and no segment without a letter or digit). "
            "`jfk-with-pauses` is real speech (47 words) with pauses of 2-9 s: the gate must "
            "keep it.", ""]  # fmt: skip
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    by = {(r["mode"], r["clip"]): r for r in rows}
    header = ["clip", "s", *[f"{m} before / after" for m in modes]]
    body = []
    for clip in clips:
        first = by[(modes[0], clip)]
        cells = [f"{by[(m, clip)]['before_words']} / {by[(m, clip)]['after_words']}"
                 for m in modes]  # fmt: skip
        body.append([clip, f"{first['seconds']:.0f}", *cells])
    totals = ["**invented (no-speech clips)**", ""]
    for mode in modes:
        none = [by[(mode, c)] for c in clips if c != "jfk-with-pauses"]
        totals.append(f"**{sum(r['before_words'] for r in none)} / "
                      f"{sum(r['after_words'] for r in none)}**")  # fmt: skip
    out += table(header, body + [totals]) + [""]
    real = data.get("real")
    if real:
        out += [f"Real speech the gate must keep: the first {real['clips']} clips of the "
                f"real-speech set ({real['reference_words']} words), fast-int8: "
                f"{real['before_words']} words written without the gate, "
                f"{real['after_words']} with it; highest no-speech probability "
                f"{real['max_nsp']:.2f}.", ""]  # fmt: skip
    cost = data.get("cost") or []
    if cost:
        out += ["What the times cost, fast-int8 at one thread (minimum of "
                f"{m.get('repeats')} interleaved runs): text only (the path before segments), "
                "segments (the default), segments + word times.", ""]  # fmt: skip
        out += table(
            ["clip", "text s", "segments s", "words s", "segments / text", "words / segments"],
            [[r["clip"], f"{r['text_s']:.3f}", f"{r['segments_s']:.3f}", f"{r['words_s']:.3f}",
              f"{r['segments_s'] / r['text_s']:.2f}", f"{r['words_s'] / r['segments_s']:.2f}"]
             for r in cost],
        ) + [""]  # fmt: skip
    return out

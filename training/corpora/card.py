"""The card of a speech corpus: what is in it, where it came from, how to build it again.

``card.md`` is written next to ``manifest.jsonl`` by every build, from the manifest rows and
``corpus.json``: clips, minutes and words per split, engines and voices (per split: test voices
are never heard in training), text sources and speech engines with versions and licences,
acoustic conditions, voices that failed, the build command, build time and size on disk.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from training.corpora import voices as engines

CARD = "card.md"
SPLITS = ("train", "validation", "test")
ENTRY = "python -m training.make_speech_corpus"
TEXT_SOURCES = {
    "generated": ("this repository's sentence generator", "same licence as this repository"),
    "aclsum": ("ACLSum (Takeshita et al., NAACL 2024), PyPI aclsum", "MIT"),
    "news": (
        "ABC news background corpus (Lee et al. 2005), lee_background.cor in the gensim 4.4.0 "
        "wheel (read from the zip, not installed)",
        "shipped in gensim under LGPL-2.1-only; the articles state no licence of their own",
    ),
    "wordnet": ("WordNet 3.0 example sentences, Debian wordnet-base", "WordNet 3.0 licence"),
}
RUN_ONLY = ("overwrite",)  # how this build ran, not what it holds: left out of the command
TEXT_PACKAGES = {"aclsum": "aclsum", "wordnet": "wordnet-base"}


def build_command(config: dict, defaults: dict) -> str:
    """The command line that builds the corpus again: the flags that differ from the defaults."""
    flags = []
    for name, value in config.items():
        if name in RUN_ONLY or (value == defaults.get(name, value) and name != "out"):
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else f"--no-{name.replace('_', '-')}")
        else:
            flags.append(f"{flag} {value}" if value is not None else f"{flag} none")
    return " ".join([ENTRY, *flags])


def write_card(out: Path, rows: list[dict], summary: dict) -> Path:
    """Write ``out/card.md`` for the corpus of ``rows`` (the manifest) and ``summary``."""
    config = summary["config"]
    by_split = {s: [r for r in rows if r["split"] == s] for s in SPLITS}
    voices = {s: sorted({_voice(r) for r in by_split[s]}) for s in SPLITS}
    used_engines = sorted({r["engine"] for r in rows})
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and p.name != CARD)
    minutes = {s: sum(r["seconds"] for r in by_split[s]) / 60 for s in SPLITS}
    words = {s: sum(len(r["text"].split()) for r in by_split[s]) for s in SPLITS}
    docs = {s: len({r["paper"] or r["text"] for r in by_split[s]}) for s in SPLITS}
    sources = Counter(r["source"].split(":")[0] for r in rows)
    lines = [
        f"# Speech corpus card: {out.name}",
        "",
        f"{len(rows)} clips, {sum(minutes.values()):.1f} minutes, {sum(words.values())} words, "
        f"{len(used_engines)} engines, {len({_voice(r) for r in rows})} voices; "
        f"built in {summary['build_seconds'] / 60:.1f} min, {size / 1e6:.0f} MB on disk "
        "(16 kHz mono 16-bit WAV).",
        "",
        "Build command:",
        "",
        f"    {summary['command']}",
        "",
        "| | " + " | ".join(SPLITS) + " | all |",
        "|---|" + "---:|" * (len(SPLITS) + 1),
        _row("clips", {s: len(by_split[s]) for s in SPLITS}, "{}"),
        _row("minutes", minutes, "{:.1f}"),
        _row("words", words, "{}"),
        _row("documents (papers, articles, synsets)", docs, "{}", total=False),
        _row("voices", {s: len(voices[s]) for s in SPLITS}, "{}", total=False),
        "",
        _held_out(config),
        *_abstract_lines(summary.get("abstracts")),
        "",
        "## Voices per split",
        "",
        *(f"- {s}: {', '.join(voices[s]) or 'none'}" for s in SPLITS),
        "",
        "## Speech engines",
        "",
        *_engine_lines(used_engines, rows),
        "",
        "## Text sources",
        "",
        *_source_lines(sources),
        "",
        "## Conditions",
        "",
        *_condition_lines(rows),
        "",
        "## Voices that failed",
        "",
        *_failed_lines(summary.get("failed_voices") or {}),
        "",
    ]
    path = out / CARD
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _held_out(config: dict) -> str:
    voices = config.get("test_voices")
    said = "Held out of training: "
    said += (
        f"the test voices ({voices})" if voices else "no voice (every split may use every voice)"
    )
    if config["source"] == "generated":
        return said + "; validation sentences are not in training."
    return said + "; the test and validation documents (papers, articles, synsets)."


def _abstract_lines(abstracts: dict | None) -> list[str]:
    if not abstracts:
        return []
    return [
        "",
        f"Also {abstracts['clips']} long abstract clips of {abstracts['papers']} ACLSum papers "
        f"(abstracts.jsonl; {abstracts['skipped_short']} too short, "
        f"{abstracts['trimmed']} trimmed).",
    ]


def _voice(row: dict) -> str:
    return engines.voice_name(row["engine"], row["voice"])


def _row(name: str, values: dict, fmt: str, total: bool = True) -> str:
    cells = [fmt.format(values[s]) for s in SPLITS]
    return (
        f"| {name} | "
        + " | ".join(cells)
        + f" | {fmt.format(sum(values.values())) if total else ''} |"
    )


def _engine_lines(used: list[str], rows: list[dict]) -> list[str]:
    clips = Counter(r["engine"] for r in rows)
    out = []
    for name in used:
        engine = engines.get_engine(name)
        packages = ", ".join(f"{p} {v}" for p, v in engines.versions([name]).items())
        out.append(f"- {name} ({clips[name]} clips): {packages}; licence {engine.licence}")
    for voice, licence in engines.VOICE_LICENCES.items():
        if any(_voice(r) == voice for r in rows):
            out.append(f"- voice {voice}: licence {licence}")
    return out


def _source_lines(sources: Counter) -> list[str]:
    out = []
    for name, count in sorted(sources.items()):
        what, licence = TEXT_SOURCES[name]
        package = TEXT_PACKAGES.get(name)
        version = f" {engines.package_version(package)}" if package else ""
        out.append(f"- {name} ({count} clips): {what}{version}; licence {licence}")
    return out


def _condition_lines(rows: list[dict]) -> list[str]:
    n = max(len(rows), 1)
    speeds = sorted({r["speed"] for r in rows})
    snrs = Counter(np.inf if r["snr_db"] is None else r["snr_db"] for r in rows)
    reverb = sum(r["rt60"] is not None for r in rows)
    phone = sum(r.get("band") == "telephone" for r in rows)
    return [
        f"- speeds (words per minute): {', '.join(map(str, speeds))}",
        "- noise: " + ", ".join(f"{_snr(k)} {v / n:.0%}" for k, v in sorted(snrs.items())),
        f"- room reverb (RT60 0.2-0.7 s): {reverb / n:.0%} of clips",
        f"- telephone band (300-3400 Hz, 8 kHz mu-law): {phone / n:.0%} of clips",
    ]


def _snr(value: float) -> str:
    return "clean" if np.isinf(value) else f"{value:g} dB"


def _failed_lines(failed: dict) -> list[str]:
    if not failed:
        return ["None."]
    return [
        f"- {voice}: {info['skipped']} clips skipped ({info['error']})"
        for voice, info in sorted(failed.items())
    ]

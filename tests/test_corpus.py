"""The espeak-ng speech corpus from ACLSum: splits by paper, 16 kHz clips, measured SNR, reverb,
determinism, long abstract clips; and the noise/room functions on their own."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from demo.audio import SAMPLE_RATE, load_audio, synthesize_speech
from training.corpora import aclsum
from training.corpora.spoken import speakable
from training.make_speech_corpus import (
    ABSTRACTS,
    RT60_RANGE,
    SUMMARY,
    CorpusConfig,
    main,
    make_corpus,
)
from training.room import add_noise, impulse_response, noise, reverberate

COLUMNS = {
    "audio", "text", "engine", "voice", "speed", "pitch", "split", "source", "paper", "snr_db",
    "rt60", "band", "seconds",
}  # fmt: skip
ABSTRACT_COLUMNS = {"audio", "text", "summary", "paper", "split", "voice", "speed"}
TINY = {
    "source": "aclsum", "num_utterances": 2, "val_clips": 2, "test_clips": 2,
    "voices": "en-us,fr", "speeds": "150,180", "snr_db": "10,20", "max_papers": 3, "seed": 0,
}  # fmt: skip


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """6 noisy ACLSum clips (2 per split), 2 voices, 2 speeds, SNR 10 or 20 dB."""
    return make_corpus(CorpusConfig(out=str(tmp_path_factory.mktemp("aclsum")), **TINY))


def test_manifest_has_the_columns_and_the_clip_counts(corpus):
    rows = _rows(corpus)
    assert [row["split"] for row in rows] == ["train"] * 2 + ["validation"] * 2 + ["test"] * 2
    for row in rows:
        assert set(row) == COLUMNS
        assert row["voice"] in ("en-us", "fr") and row["speed"] in (150, 180)
        assert row["snr_db"] in (10.0, 20.0) and row["rt60"] is None
        assert row["engine"] == "espeak-ng" and row["band"] == "wide"
        assert row["source"] in {f"aclsum:{p}" for p in ("abstract", *aclsum.ASPECTS)}
        assert 6 <= len(row["text"].split()) <= 40
        assert speakable(row["text"]) == row["text"]
    summary = json.loads((corpus.parent / SUMMARY).read_text())
    assert summary["clips"] == {"train": 2, "validation": 2, "test": 2}
    assert summary["config"]["source"] == "aclsum" and summary["build_seconds"] > 0


def test_splits_are_disjoint_by_paper_and_follow_aclsum(corpus):
    rows = _rows(corpus)
    papers = {s: {r["paper"] for r in rows if r["split"] == s} for s in aclsum.SPLIT_FILES}
    assert not papers["train"] & papers["validation"]
    assert not papers["train"] & papers["test"]
    assert not papers["validation"] & papers["test"]
    for split, ids in papers.items():
        first = {p.id for p in aclsum.load_papers(split)[:3]}  # max_papers=3
        assert ids <= first
    for row in rows:
        paper = next(p for p in aclsum.load_papers(row["split"]) if p.id == row["paper"])
        part = row["source"].split(":")[1]
        spoken = paper.sentences["abstract"] if part == "abstract" else [paper.summary[part]]
        assert row["text"] in [speakable(s) for s in spoken]


def test_clips_are_16_khz_mono_wav_at_the_chosen_snr(corpus):
    for row in _rows(corpus):
        path = corpus.parent / row["audio"]
        with wave.open(str(path)) as clip:
            assert (clip.getframerate(), clip.getnchannels(), clip.getsampwidth()) == (16000, 1, 2)
            assert abs(clip.getnframes() / 16000 - row["seconds"]) < 0.01
        noisy = load_audio(path)
        clean = _clean(row, corpus.parent / "clean.wav")
        assert len(noisy) == len(clean)
        # The generator may scale speech and noise together: fit the scale, then the rest is noise.
        scale = float(noisy @ clean) / float(clean @ clean)
        residual = noisy - scale * clean
        snr = 10 * np.log10(np.mean((scale * clean) ** 2) / np.mean(residual**2))
        assert abs(snr - row["snr_db"]) < 1.0, (snr, row["snr_db"])


def _clean(row: dict, path: Path) -> np.ndarray:
    synthesize_speech(
        row["text"], path, voice=row["voice"], words_per_minute=row["speed"], pitch=row["pitch"]
    )
    return load_audio(path)


def test_same_seed_gives_the_same_bytes_and_another_seed_other_noise(corpus, tmp_path):
    again = make_corpus(CorpusConfig(out=str(tmp_path / "again"), **TINY))
    assert again.read_text() == corpus.read_text()
    for row in _rows(corpus):
        assert (again.parent / row["audio"]).read_bytes() == (
            corpus.parent / row["audio"]
        ).read_bytes()
    config = {**TINY, "val_clips": 0, "test_clips": 0, "seed": 1}
    other = _rows(make_corpus(CorpusConfig(out=str(tmp_path / "other"), **config)))
    assert [r["text"] for r in other] != [r["text"] for r in _rows(corpus)[:2]]


def test_reverb_and_clean_clips(tmp_path):
    config = {**TINY, "val_clips": 0, "test_clips": 0, "snr_db": "inf", "reverb": True}
    manifest = make_corpus(CorpusConfig(out=str(tmp_path / "room"), **config))
    for row in _rows(manifest):
        assert row["snr_db"] is None
        assert RT60_RANGE[0] <= row["rt60"] <= RT60_RANGE[1]
        wet = load_audio(manifest.parent / row["audio"])
        clean = _clean(row, tmp_path / "clean.wav")
        assert len(wet) == len(clean)
        scale = float(wet @ clean) / float(clean @ clean)
        # Reverb is not a gain: a large part of the clip is the room, not the dry speech.
        left = np.mean((wet - scale * clean) ** 2) / np.mean(wet**2)
        assert 0.05 < left < 0.8


def test_abstract_clips_pair_long_speech_with_the_paper_summary(tmp_path):
    config = {**TINY, "num_utterances": 1, "val_clips": 0, "test_clips": 0, "max_papers": 1}
    config |= {"abstract_clips": True, "speeds": "110,130,150", "snr_db": "20"}
    manifest = make_corpus(CorpusConfig(out=str(tmp_path / "abs"), **config))
    rows = _rows(manifest.parent / ABSTRACTS)
    counts = json.loads((manifest.parent / SUMMARY).read_text())["abstracts"]
    assert counts["papers"] == 3  # one per split
    assert counts["clips"] == len(rows) >= 1
    assert counts["clips"] + counts["skipped_short"] == counts["papers"]
    for row in rows:
        assert ABSTRACT_COLUMNS <= set(row)
        paper = next(p for p in aclsum.load_papers(row["split"]) if p.id == row["paper"])
        assert row["summary"] == paper.joined_summary
        spoken = " ".join(t for s in paper.sentences["abstract"] if (t := speakable(s, True)))
        assert spoken.startswith(row["text"]) and row["trimmed"] == (row["text"] != spoken)
        audio = load_audio(manifest.parent / row["audio"], max_seconds=None)
        assert 60.0 <= len(audio) / SAMPLE_RATE <= 90.0


def test_out_pointing_at_a_file_is_refused(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    assert main(["--out", str(existing), "--source", "aclsum", "--num-utterances", "1"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith("error:") and "is a file" in message and message.count(".") <= 2
    assert existing.read_text() == "keep me"


def test_config_refuses_mismatched_options():
    with pytest.raises(ValueError, match="source aclsum"):
        CorpusConfig(abstract_clips=True)
    with pytest.raises(ValueError, match="10,20,inf"):
        CorpusConfig(snr_db="10,loud")
    with pytest.raises(ValueError, match="source must be"):
        CorpusConfig(source="librispeech")


@pytest.mark.parametrize(
    ("sentence", "spoken"),
    [
        ("Answer Extraction is a basic module in Question Answering (QA).",
         "Answer Extraction is a basic module in Question Answering."),
        ("We beat prior work (Xu et al., 2015; Luong et al., 2015) on parsing.",
         "We beat prior work on parsing."),
        ("It helps tasks, e.g., tagging.", "It helps tasks, for example, tagging."),
        ("A stateof-the-art way, state-ofthe-art.", "A state-of-the-art way, state-of-the-art."),
        ("It improves MRR by up to 20% on all sets.", None),  # digits: espeak and Whisper differ
        ("The code is at https://github.com/x.", None),
        ("As Cui et al. show, this is hard to do.", None),
        ("and the results are shown below", None),  # a fragment, no final punctuation
        (";.", None),  # punctuation only: nothing to say (a WordNet example)
    ],
)  # fmt: skip
def test_speakable(sentence, spoken):
    assert speakable(sentence) == spoken


def test_abstracts_keep_numbers_but_not_symbols():
    assert speakable("It gains 20% on all sets.", numbers=True) == "It gains 20% on all sets."
    assert speakable("It maps x → y on all sets.", numbers=True) is None


def test_noise_is_added_at_the_asked_snr_and_pink_is_darker():
    rng = np.random.default_rng(0)
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for colour in ("white", "pink"):
        for snr in (0.0, 10.0, 25.0):
            added = add_noise(tone, snr, colour, rng) - tone
            assert abs(10 * np.log10(np.mean(tone**2) / np.mean(added**2)) - snr) < 0.05
    for colour, low_over_high in (("white", (0.8, 1.25)), ("pink", (20, np.inf))):
        spectrum = np.abs(np.fft.rfft(noise(SAMPLE_RATE * 4, colour, rng))) ** 2
        freqs = np.fft.rfftfreq(SAMPLE_RATE * 4, 1 / SAMPLE_RATE)
        ratio = spectrum[(freqs > 100) & (freqs < 200)].mean() / spectrum[freqs > 4000].mean()
        assert low_over_high[0] < ratio < low_over_high[1], (colour, ratio)


def test_room_response_decays_60_db_in_rt60_and_keeps_length_and_level():
    rng = np.random.default_rng(0)
    response = impulse_response(0.5, rng)
    assert response[0] == 1.0 and len(response) == int(0.505 * SAMPLE_RATE)
    tail = response[1:] ** 2
    early = tail[80:880].mean()  # first 50 ms of the tail
    late = tail[-800:].mean()  # last 50 ms, ~0.45 s later: ~54 dB down
    assert 45 < 10 * np.log10(early / late) < 63
    audio = np.random.default_rng(1).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    wet = reverberate(audio, 0.5, rng)
    assert wet.shape == audio.shape
    assert abs(np.sqrt(np.mean(wet**2)) - 0.1) < 0.005
    assert not np.allclose(wet, audio)

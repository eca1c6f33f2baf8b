"""The real-speech evaluation set: references made to match speech on real Asterisk transcript
lines, the pyannote call's STM turns, a 5-clip build from the installed Debian packages (.ci/run
installs them), the one-sentence error without them, and the split a training run loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.corpora import make_real_speech as mrs
from training.corpora.real_speech import (
    SAMPLE_SPLIT,
    SPLIT,
    real_speech_rows,
    real_speech_sets,
)

INSTALLED = Path("/") / mrs.TRANSCRIPTS
needs_packages = pytest.mark.skipif(
    not INSTALLED.is_file(), reason=f"the Debian packages are not installed ({mrs.INSTALL})"
)
# Lines as they ship in core-sounds-en.txt.gz (asterisk-core-sounds-en 1.6.1-1).
ASTERISK_LINES = {
    "letters/at: at [@]": "at",
    "beep: [this is a simple beep tone]": "",
    "confbridge-join: <beep ascending>": "",
    "silence/3: (3 seconds of silence)": "",
    "dictate/forhelp: press 0 for help": "press 0 for help",
    "dictate/both_help: press * to toggle pause, press # to enter a new dictation filename": (
        "press star to toggle pause, press pound to enter a new dictation filename"
    ),
    "vm-intro: Please leave your message after the tone.  When done hang up or press the "
    "pound key. (simple tone sound plays)": (
        "Please leave your message after the tone. When done hang up or press the pound key."
    ),
    'spy-iax2: IAX (note: does not say "2")': "IAX",
    "letters/exclaimation-point: exclaimation-point [!]": "exclamation point",
    "digits/h-40: fourtieth": "fortieth",
    "unidentified-no-callback: Un-indentified or witheld and therefore cannot be called back.": (
        "unidentified or withheld and therefore cannot be called back."
    ),
    "de-activated: De-activated.": "deactivated.",
    "conf-adminmenu-menu8: Press 1 to list users currently in the conference, 2 to kick all "
    "non-administrator users, 3 to mute or umute all non-administrator users": (
        "Press 1 to list users currently in the conference, 2 to kick all non-administrator "
        "users, 3 to mute or unmute all non-administrator users"
    ),
    "conf-lockednow: ...to lock, or unlock the conference.": "to lock, or unlock the conference.",
}
# The STM transcript inside the pyannote.audio 4.0.7 wheel (its first six segments).
STM = """sample 1 Diane 6.68 7.16 Hello?
sample 1 Sheila 7.634 8.155 Hello?
sample 1 Diane 8.436 8.876 Oh, hello.
sample 1 Diane 8.916 9.798 I didn't know you were there.
sample 1 Sheila 9.838 10.78 Neither did I.
sample 1 Diane 10.78 12.54 Okay, then I thought you know, I heard a beep.
"""


def test_spoken_text_on_real_transcript_lines():
    for line, spoken in ASTERISK_LINES.items():
        assert mrs.spoken_text(line.partition(":")[2].strip()) == spoken, line


def test_stm_turns_join_one_speakers_segments():
    turns = mrs.stm_turns(STM)
    assert [t["speaker"] for t in turns] == ["Diane", "Sheila", "Diane", "Sheila", "Diane"]
    assert turns[2] == {
        "speaker": "Diane", "start": 8.436, "end": 9.798,
        "text": "Oh, hello. I didn't know you were there.",
    }  # fmt: skip


def test_missing_packages_are_one_sentence_naming_the_install_command(tmp_path, capsys):
    argv = ["--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
            "--system-root", str(tmp_path), "--no-download", "--no-call"]  # fmt: skip
    assert mrs.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.endswith(mrs.INSTALL) and "asterisk-core-sounds-en-g722" in err
    assert not (tmp_path / "out" / mrs.MANIFEST).exists()


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    """The first 5 prompts, built from the installed packages (no call: no network)."""
    if not INSTALLED.is_file():
        pytest.skip(f"the Debian packages are not installed ({mrs.INSTALL})")
    out = tmp_path_factory.mktemp("real-speech")
    assert mrs.main(["--out", str(out), "--max-clips", "5", "--no-call", "--no-download"]) == 0
    return out / mrs.MANIFEST


@needs_packages
def test_small_build_manifest_and_card(small_set):
    from demo.audio import SAMPLE_RATE, load_audio
    from demo.metrics import normalize_text

    rows = [json.loads(line) for line in small_set.read_text().splitlines()]
    assert len(rows) == 5 and {r["split"] for r in rows} == {"test"}
    assert {"audio", "text", "raw_text", "voice", "split", "source", "seconds"} <= set(rows[0])
    assert [r["voice"] for r in rows] == ["allison"] * 5
    for row in rows:
        audio = load_audio(small_set.parent / row["audio"], max_seconds=None)
        assert abs(len(audio) / SAMPLE_RATE - row["seconds"]) < 0.02 and row["text"]
        assert row["source"].startswith("asterisk-core-sounds-en-g722=")  # wideband first
    card = json.loads((small_set.parent / "card.json").read_text())
    assert card["clips"] == 5 and card["speakers"] == {"allison": 5}
    assert card["words"] == sum(len(normalize_text(r["text"]).split()) for r in rows) > 5
    assert card["build_command"].startswith("python -m training.corpora.make_real_speech")
    assert "silence/1: not speech" in " ".join(card["left_out"])
    assert "| 5 |" in (small_set.parent / "card.md").read_text()


@needs_packages
def test_training_split_loads_from_the_manifest(small_set):
    from training.data import DataReport, speech_examples

    sets = real_speech_sets(small_set, max_clips=3)
    assert set(sets) == {SPLIT, SAMPLE_SPLIT}
    assert len(sets[SPLIT][1]) == 3 and len(sets[SAMPLE_SPLIT][1]) == 2
    report = DataReport(sets[SPLIT][0])
    examples = speech_examples(sets[SPLIT][1], report, audio_column="audio",
                               text_column="text", base_dir=None, strict=True)  # fmt: skip
    assert len(examples) == 3 and report.kept == 3


def test_without_the_set_the_split_is_the_sample_with_a_warning(tmp_path, capsys):
    rows = real_speech_rows(tmp_path / "missing.jsonl")
    assert len(rows) == 2 and "Americans" in " ".join(r["text"] for _, r in rows)
    assert "make real-speech" in capsys.readouterr().err


def test_a_seeded_subset_is_drawn_across_the_set_and_is_the_same_every_time(small_set):
    from training.corpora.subsample import subsample

    rows = list(range(100))
    drawn = subsample(rows, 10, seed=0)
    assert drawn == subsample(rows, 10, seed=0) and drawn == sorted(drawn)  # order kept
    assert len(drawn) == 10 and max(drawn) > 50  # not the first ten of a sorted manifest
    assert subsample(rows, 10) == rows[:10] and subsample(rows, 500, seed=0) == rows
    every = [n for n, _ in real_speech_sets(small_set)[SPLIT][1]]
    seeded = [n for n, _ in real_speech_sets(small_set, max_clips=3, seed=1)[SPLIT][1]]
    assert len(seeded) == 3 and set(seeded) <= set(every)

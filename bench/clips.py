"""The benchmark's clip set: real speech with known transcripts, and a long synthetic clip.

- ``jfk``: tests/data/jfk.flac (11 s), J. F. Kennedy; reference in tests/conftest.py.
- ``mit-en``: the English half of tests/data/multilingual.mp3, cut at 30.0 s, in the silence
  between the English and the German reading (29.1-30.9 s); reference is the licence text in
  tests/data/multilingual_en.txt (its ``(the "Software")`` is written but not read aloud, so
  every engine pays the same two deletions).
- ``espeak-long``: ``LONG_TEXT`` spoken by espeak-ng (about 88 s: three 30 s windows, the
  long-form path), synthesized once into the cache folder.
- ``meeting``: ``MEETING_TEXT``, a project meeting, spoken by espeak-ng (about 65 s).
- ``long-5min``: the three texts one after another (``LONG_TEXT``, ``MEETING_TEXT``,
  ``LECTURE_TEXT``), about 5.5 minutes: the long-form case a user uploading a recording has.

``manifest_clips`` reads clips of a speech corpus instead (``training.make_speech_corpus``,
e.g. the spoken ACLSum abstracts of ``--abstract-clips``: 60-90 s each, several voices).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo.audio import SAMPLE_RATE, load_audio, synthesize_speech
from demo.settings import settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
MIT_EN_SECONDS = 30.0
LONG_VOICE = "en-us"
LONG_WPM = 150
LONG_TEXT = (
    "The morning train left the station a little after sunrise. Most of the passengers were "
    "still half asleep, holding warm cups of coffee and watching the fields roll past the "
    "windows. A young teacher sat near the door with a stack of papers on her knees. She was "
    "reading essays written by her students about the history of the river that ran beside "
    "the railway. Some of them were short and careful, others were long and full of "
    "surprising ideas. One boy had written that the river was older than the mountains, "
    "and that it had carved the valley slowly, one grain of sand at a time. Another student "
    "described the old mill that once stood on the bank, and the families who worked there "
    "before the factory closed. The teacher smiled as she read, making small notes in the "
    "margins. Outside, the sky turned from grey to a clear and gentle blue. When the train "
    "crossed the long bridge, everyone looked up to see the water shining below. A man in a "
    "dark coat put down his newspaper and said that he had fished in that river as a child. "
    "He told the teacher about the cold mornings, the quiet hours, and the day he caught a "
    "fish so large that nobody in the village believed him. She laughed and said that her "
    "students would enjoy that story. By the time the train reached the city, the papers "
    "were finished, the coffee was gone, and the two strangers had become friends."
)
MEETING_TEXT = (
    "Good morning everyone, let us start with the budget review. Maria said the spending on "
    "cloud servers went up again last month, mostly because the test cluster was left running "
    "over the weekend. We agreed to shut it down every Friday evening from now on. Next, the "
    "release. The new search page is ready, but the mobile version still has two open bugs, so "
    "the release moves to the second week of April. Daniel will write to the customers who "
    "asked for it and explain the delay. Then we talked about hiring. We have three strong "
    "candidates for the data engineer position, and the final interviews are on Thursday. "
    "Finally, the office move. The new building will not be ready until June, so the team "
    "stays where it is for now. Any questions before we finish? No? Then thank you all, and "
    "see you next week."
)
LECTURE_TEXT = (
    "Today we look at how a speech recognizer turns sound into text. The microphone records "
    "changes in air pressure, thousands of times every second. Before a model can use them, the "
    "signal is cut into short overlapping frames, and each frame is described by how much "
    "energy it carries at different frequencies. Low frequencies are described in fine detail "
    "and high ones more coarsely, because that is how our own ears work. The result is a "
    "picture of the sound, with time running from left to right and pitch from bottom to top. "
    "An encoder reads this picture and builds a description of what was said, one step at a "
    "time. A decoder then writes the words, looking back at the encoder's description before it "
    "chooses each new word. Training such a model needs many hours of recordings with careful "
    "transcripts, and most of that data comes from people reading books aloud or from radio "
    "broadcasts. This is why a recognizer can struggle with a strong accent, a noisy room, or a "
    "speaker who talks very fast. One way to help is to fine tune the model on a small amount "
    "of speech from the situation where it will be used. Another is to compress the model so "
    "that it runs on a laptop or a phone without a network connection. Both ideas have costs. "
    "Fine tuning on a narrow kind of speech can make the model worse at everything else, and "
    "compression can remove exactly the details that separate two similar words. In the next "
    "part of the lecture we will measure both effects on real recordings, and we will see that "
    "the numbers depend a great deal on how the test set was chosen. Keep that in mind whenever "
    "you read a table of results, including the ones in this course."
)
CLIPS = ("jfk", "mit-en", "espeak-long", "meeting", "long-5min")
# espeak-ng clips: name -> (text, voice, words per minute)
ESPEAK_CLIPS = {
    "espeak-long": (LONG_TEXT, LONG_VOICE, LONG_WPM),
    "meeting": (MEETING_TEXT, "en-us", 130),
    "long-5min": (" ".join([LONG_TEXT, MEETING_TEXT, LECTURE_TEXT]), LONG_VOICE, 120),
}
QUICK_CLIPS = ("jfk",)
LONG_FORM_CLIPS = tuple(ESPEAK_CLIPS)  # over 30 s: the long-form path


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    reference: str
    source: str  # where it comes from, for the report

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def espeak_wav(name: str, folder: Path | None = None) -> Path:
    """An ``ESPEAK_CLIPS`` clip, synthesized once (espeak-ng output is deterministic)."""
    text, voice, wpm = ESPEAK_CLIPS[name]
    folder = folder or settings().cache_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{voice}-{wpm}-{len(text)}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        synthesize_speech(text, tmp, voice=voice, words_per_minute=wpm)
        tmp.replace(path)
    return path


def long_form_wav(folder: Path | None = None) -> Path:
    """The espeak-ng long-form clip (about 88 s)."""
    return espeak_wav("espeak-long", folder)


def load_clip(name: str) -> Clip:
    """One clip of the set by name (see ``CLIPS``)."""
    if name == "jfk":
        path = DATA / "jfk.flac"
        return Clip(name, load_audio(path), JFK_TEXT, "tests/data/jfk.flac")
    if name == "mit-en":
        audio = load_audio(DATA / "multilingual.mp3", max_seconds=None)
        reference = (DATA / "multilingual_en.txt").read_text(encoding="utf-8").strip()
        cut = audio[: int(MIT_EN_SECONDS * SAMPLE_RATE)]
        return Clip(name, cut, reference, "tests/data/multilingual.mp3, 0-30 s")
    if name in ESPEAK_CLIPS:
        text, voice, wpm = ESPEAK_CLIPS[name]
        source = f"espeak-ng -v {voice} -s {wpm}, bench/clips.py {name}"
        return Clip(name, load_audio(espeak_wav(name), max_seconds=None), text, source)
    raise ValueError(f"Unknown clip {name!r}; pick one of {', '.join(CLIPS)}.")


def manifest_rows(path: str | Path, split: str, max_clips: int | None = None) -> list[dict]:
    """The ``split`` rows of a corpus manifest (JSON lines), at most ``max_clips``, with their
    ``audio`` made absolute; a missing file or an empty split is one clear error."""
    from demo.errors import DemoError

    path = Path(path)
    if not path.is_file():
        raise DemoError(f"No clips file {path}; make one with training.make_speech_corpus.")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    rows = [r for r in rows if r.get("split") == split][:max_clips]
    if not rows:
        raise DemoError(f"{path} has no {split} clips.")
    for row in rows:
        row["audio"] = str((path.parent / row["audio"]).resolve())
    return rows


def manifest_clips(path: str | Path, split: str, max_clips: int | None = None) -> list[Clip]:
    """``manifest_rows`` as clips: named by their file, the row's ``text`` as reference."""
    return [
        Clip(Path(r["audio"]).stem, load_audio(r["audio"], max_seconds=None), r["text"], str(path))
        for r in manifest_rows(path, split, max_clips)
    ]

"""The benchmark's clip set: real speech with known transcripts, and a long synthetic clip.

- ``jfk``: tests/data/jfk.flac (11 s), J. F. Kennedy; reference in tests/conftest.py.
- ``mit-en``: the English half of tests/data/multilingual.mp3, cut at 30.0 s, in the silence
  between the English and the German reading (29.1-30.9 s); reference is the licence text in
  tests/data/multilingual_en.txt (its ``(the "Software")`` is written but not read aloud, so
  every engine pays the same two deletions).
- ``espeak-long``: ``LONG_TEXT`` spoken by espeak-ng (about 88 s: three 30 s windows, the
  long-form path), synthesized once into the cache folder.
"""

from __future__ import annotations

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
CLIPS = ("jfk", "mit-en", "espeak-long")
QUICK_CLIPS = ("jfk",)


@dataclass
class Clip:
    name: str
    audio: np.ndarray  # 16 kHz mono float32
    reference: str
    source: str  # where it comes from, for the report

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def long_form_wav(folder: Path | None = None) -> Path:
    """The espeak-ng long-form clip, synthesized once (espeak-ng output is deterministic)."""
    folder = folder or settings().cache_dir / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"espeak-long-{LONG_VOICE}-{LONG_WPM}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        synthesize_speech(LONG_TEXT, tmp, voice=LONG_VOICE, words_per_minute=LONG_WPM)
        tmp.replace(path)
    return path


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
    if name == "espeak-long":
        path = long_form_wav()
        source = f"espeak-ng -v {LONG_VOICE} -s {LONG_WPM}, bench/clips.py LONG_TEXT"
        return Clip(name, load_audio(path, max_seconds=None), LONG_TEXT, source)
    raise ValueError(f"Unknown clip {name!r}; pick one of {', '.join(CLIPS)}.")

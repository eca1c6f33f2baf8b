import shutil
import struct
import zlib

import av
import numpy as np
import pytest

from demo import audio
from demo.audio import (
    SAMPLE_RATE,
    duration_seconds,
    load_audio,
    synthesize_speech,
    write_wav,
)
from demo.errors import AudioError, DemoError, UnknownChoiceError

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


def _tone(seconds: float, rate: int, amplitude: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _encode(path, samples: np.ndarray, rate: int, codec: str):
    """Encode mono float samples with PyAV, as a browser's MediaRecorder would for opus."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def _png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
        + chunk(b"IEND", b"")
    )


def _error(source, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(source, **kwargs)
    return str(info.value)


def test_jfk_flac_loads_as_16k_mono_float(jfk_path):
    samples = load_audio(jfk_path)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert abs(duration_seconds(samples) - 11.0) < 0.05
    assert -1.0 <= samples.min() < -0.1
    assert 0.1 < samples.max() <= 1.0


def test_multilingual_mp3_loads(multilingual_path):
    samples = load_audio(multilingual_path)
    assert abs(duration_seconds(samples) - 60.0) < 0.5
    assert np.abs(samples).max() > 0.1


def test_bytes_input_matches_path(jfk_path):
    assert np.array_equal(load_audio(jfk_path.read_bytes()), load_audio(jfk_path))


def test_stereo_48k_wav_is_averaged_to_mono_16k(tmp_path):
    left = _tone(1.5, 48000, amplitude=0.8)
    path = write_wav(tmp_path / "stereo.wav", np.stack([left, np.zeros_like(left)], axis=1), 48000)
    samples = load_audio(path)
    assert abs(len(samples) - int(1.5 * SAMPLE_RATE)) <= 2
    # Averaging halves a one-sided signal; FFmpeg's own float downmix would give 0.57.
    assert abs(np.abs(samples).max() - 0.4) < 0.01


def test_write_wav_round_trip(tmp_path):
    tone = _tone(0.5, SAMPLE_RATE, amplitude=0.3)
    samples = load_audio(write_wav(tmp_path / "tone.wav", tone))
    assert len(samples) == len(tone)
    assert np.abs(samples - tone).max() < 1e-3


@pytest.mark.parametrize(
    ("name", "codec"), [("mic.webm", "libopus"), ("mic.ogg", "libopus"), ("clip.m4a", "aac")]
)
def test_browser_and_compressed_formats_decode(tmp_path, name, codec):
    path = _encode(tmp_path / name, _tone(2.0, 48000), 48000, codec)
    samples = load_audio(path)
    assert abs(duration_seconds(samples) - 2.0) < 0.05
    # RMS of a 0.5 sine, not its peak: the AAC encoder leaves a spike mid-clip.
    assert abs(np.sqrt(np.mean(samples[1600:-1600] ** 2)) - 0.5 / np.sqrt(2)) < 0.02


def test_missing_path_is_reported(tmp_path):
    message = _error(tmp_path / "nope.wav")
    assert "not found" in message
    assert "nope.wav" in message


def test_directory_is_reported(tmp_path):
    assert "is a folder" in _error(tmp_path)


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty (0 bytes)" in _error(path)
    assert "empty (0 bytes)" in _error(b"")


def test_zero_second_wav_is_reported(tmp_path):
    path = write_wav(tmp_path / "zero.wav", np.zeros(0, dtype=np.float32))
    assert "0 seconds" in _error(path)


def test_silent_wav_is_rejected_unless_allowed(tmp_path):
    path = write_wav(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))
    assert "silent" in _error(path)
    assert len(load_audio(path, reject_silence=False)) == SAMPLE_RATE


def test_faint_noise_is_silent_but_quiet_speech_is_not(tmp_path, jfk_path):
    noise = np.random.default_rng(0).uniform(-1, 1, SAMPLE_RATE) * 10 ** (-70 / 20)
    assert "silent" in _error(write_wav(tmp_path / "noise.wav", noise))
    jfk = load_audio(jfk_path)
    quiet = jfk / np.abs(jfk).max() * 10 ** (-40 / 20)
    assert len(load_audio(write_wav(tmp_path / "quiet.wav", quiet))) == len(jfk)


def test_corrupt_bytes_are_not_audio(jfk_path):
    rng = np.random.default_rng(0)
    assert "isn't a readable audio file" in _error(rng.bytes(20000))
    # A valid FLAC header followed by garbage promises audio that isn't there.
    assert "isn't a readable audio file" in _error(jfk_path.read_bytes()[:8192] + rng.bytes(50000))


def test_truncated_file_keeps_what_decodes_and_says_so(jfk_path, tmp_path):
    data = jfk_path.read_bytes()
    notes: list[str] = []
    samples = load_audio(data[: len(data) // 2], notes=notes)
    assert 3.0 < duration_seconds(samples) < 8.0
    assert len(notes) == 1 and "truncated" in notes[0]
    # A WAV whose header promises more data than the file holds (a cut-off recording).
    wav = write_wav(tmp_path / "whole.wav", load_audio(jfk_path)).read_bytes()
    notes = []
    cut = load_audio(wav[: int(len(wav) * 0.7)], notes=notes)
    assert 7.0 < duration_seconds(cut) < 8.0
    assert len(notes) == 1 and "of the 11.0 s its header promises" in notes[0], notes
    notes = []
    load_audio(wav, notes=notes)
    assert notes == []  # a whole file gets no note


def test_text_renamed_wav_is_not_audio(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("These are meeting notes, not a recording.\n" * 20)
    message = _error(path)
    assert "isn't a readable audio file" in message
    assert "MP3" in message and "WebM" in message


def test_png_renamed_mp3_is_not_audio(tmp_path):
    path = tmp_path / "picture.mp3"
    path.write_bytes(_png_bytes())
    assert "isn't a readable audio file" in _error(path)


def test_video_without_audio_is_reported(tmp_path):
    path = tmp_path / "silent_film.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    assert "video without an audio track" in _error(path)


def test_too_long_names_length_and_limit(jfk_path):
    message = _error(jfk_path, max_seconds=5)
    assert "11.0 s long" in message
    assert "5.0 s limit" in message
    assert "max_seconds" in message
    assert abs(duration_seconds(load_audio(jfk_path, max_seconds=None)) - 11.0) < 0.05


def test_duration_limit_stops_decoding_early(multilingual_path, monkeypatch):
    decoded = []
    real_resampler = av.AudioResampler

    class CountingResampler:
        def __init__(self, *args, **kwargs):
            self._inner = real_resampler(*args, **kwargs)

        def resample(self, frame):
            frames = self._inner.resample(frame)
            decoded.extend(f.samples for f in frames)
            return frames

    monkeypatch.setattr(audio.av, "AudioResampler", CountingResampler)
    assert "10.0 s limit" in _error(multilingual_path, max_seconds=10)
    # The 60 s file is abandoned shortly after the limit, not decoded to the end.
    assert 10 * SAMPLE_RATE < sum(decoded) < 12 * SAMPLE_RATE


def test_too_many_bytes_is_reported(jfk_path):
    message = _error(jfk_path, max_bytes=1024)
    assert "over the 1.0 KiB limit" in message
    assert "max_bytes" in message
    assert "max_bytes" in _error(jfk_path.read_bytes(), max_bytes=1024)


def test_missing_espeak_gives_install_hint(tmp_path, monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(DemoError, match="apt-get install espeak-ng"):
        synthesize_speech("hello", tmp_path / "hello.wav")


@needs_espeak
def test_synthesize_speech_makes_loadable_wav(tmp_path):
    text = "Ask not what your country can do for you, ask what you can do for your country."
    path = synthesize_speech(text, tmp_path / "speech.wav", words_per_minute=160)
    samples = load_audio(path)
    # 17 words at 160 words per minute is about 6 s, plus pauses.
    assert 3.0 < duration_seconds(samples) < 10.0


@needs_espeak
def test_synthesize_speech_rejects_unknown_voice(tmp_path):
    with pytest.raises(UnknownChoiceError, match="en-us"):
        synthesize_speech("hello", tmp_path / "hello.wav", voice="xx-nonexistent")

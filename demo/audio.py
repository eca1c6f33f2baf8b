"""Audio loading, checks and synthetic speech: any common format in, 16 kHz mono float32 out."""

import math
import os
import shutil
import subprocess
import wave
from io import BytesIO
from pathlib import Path

import av
import numpy as np

from demo.errors import AudioError, DemoError, unknown_choice
from demo.settings import DEFAULT_MAX_SECONDS  # callers pass max_seconds=None for no limit

# hard-coded audio hyperparameters
SAMPLE_RATE = 16000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# A peak below -60 dBFS (amplitude 0.001, about 33 steps of 16-bit PCM) is a muted or unplugged
# microphone: quiet speech still peaks above -40 dBFS, while a live room's noise floor sits near
# -60 to -70 dBFS RMS with peaks above that. Using the peak, not the RMS, keeps a long recording
# with one short utterance from being rejected.
SILENCE_DBFS = -60.0

ACCEPTED_FORMATS = "WAV, FLAC, MP3, OGG (Vorbis or Opus), WebM/Opus, M4A/AAC"

# Codec padding makes a clip of exactly the limit decode a few milliseconds longer.
_DURATION_SLACK_SECONDS = 0.1
# A file that decodes this much shorter than its header says (and 2% of it) was cut off.
TRUNCATION_SLACK_SECONDS = 0.5
_WAV_HEAD_BYTES = 4096  # where a WAV's fmt and data chunk headers are
_IMAGE_CODECS = {"png", "mjpeg", "jpeg2000", "bmp", "gif", "webp", "tiff", "apng", "qoi"}
_ESPEAK = "espeak-ng"


def load_audio(
    source: str | os.PathLike | bytes,
    *,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    reject_silence: bool = True,
    notes: list[str] | None = None,
) -> np.ndarray:
    """Decode an audio file or its bytes into a 16 kHz mono float32 waveform in [-1, 1].

    Any format FFmpeg reads works (wav, flac, mp3, ogg/vorbis, ogg/opus, webm/opus, m4a);
    the first audio stream is used, stereo is averaged (surround gets FFmpeg's downmix).
    Decoding stops as soon as the audio passes ``max_seconds``. Raises ``AudioError`` with a
    message for the user when the input is missing, empty, too large, not audio, too long or
    (with ``reject_silence``) silent; ``None`` disables a limit. Caveats that don't stop the
    decoding (a file cut short of what its header promises) are appended to ``notes``.
    """
    if max_seconds is not None and not (math.isfinite(max_seconds) and max_seconds > 0):
        raise ValueError(
            f"max_seconds must be a finite positive number or None, got {max_seconds}."
        )
    if max_bytes is not None and max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive or None, got {max_bytes}.")

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_size(len(data), max_bytes)
        audio = _decode(BytesIO(data), max_seconds, notes)
        _note_short_wav(data[:_WAV_HEAD_BYTES], len(data), audio, notes)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        _check_size(_file_size(path, os.fspath(source)), max_bytes)
        # A Python file object, not the path string, so FFmpeg never reads a name like
        # "http://..." or "concat:..." as a protocol.
        try:
            file = open(path, "rb")
        except OSError as exc:
            message = f"Can't open the audio file {os.fspath(source)}: {exc.strerror}."
            raise AudioError(message) from exc
        with file:
            audio = _decode(file, max_seconds, notes)
            file.seek(0)
            _note_short_wav(file.read(_WAV_HEAD_BYTES), path.stat().st_size, audio, notes)
    else:
        raise TypeError(f"source must be a path or bytes, got {type(source).__name__}.")

    if audio.size == 0:
        raise AudioError("The audio is empty (0 seconds long); record or upload a longer clip.")
    if reject_silence:
        peak = float(np.max(np.abs(audio)))
        if peak == 0.0 or 20 * np.log10(peak) < SILENCE_DBFS:
            level = "no sound at all" if peak == 0.0 else f"peak {20 * np.log10(peak):.0f} dBFS"
            raise AudioError(
                f"The audio is silent ({level}, below {SILENCE_DBFS:.0f} dBFS); check that the "
                "microphone is on and unmuted, and record again."
            )
    return audio


def duration_seconds(audio: np.ndarray) -> float:
    """Length in seconds of a waveform sampled at ``SAMPLE_RATE``."""
    return audio.shape[-1] / SAMPLE_RATE


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write float audio in [-1, 1] as 16-bit PCM WAV; 2-D input is (samples, channels)."""
    audio = np.asarray(audio)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.ndim != 2:
        raise ValueError(f"audio must be 1-D or (samples, channels), got shape {audio.shape}.")
    if audio.dtype != np.int16:
        audio = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    path = Path(path)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(audio.shape[1])
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(audio.astype("<i2").tobytes())
    return path


def synthesize_speech(
    text: str,
    path: str | os.PathLike,
    *,
    voice: str = "en-us",
    words_per_minute: int = 160,
    pitch: int = 50,
) -> Path:
    """Speak ``text`` with the espeak-ng CLI into a WAV file (22.05 kHz mono) and return its path.

    Used to build synthetic clips with exact transcripts. ``voice`` is any espeak-ng voice,
    e.g. "en-us", "de" or "en-us+f3"; ``pitch`` is 0-99.
    """
    if not text.strip():
        raise ValueError("text must contain something to speak.")
    if not 0 <= pitch <= 99:
        raise ValueError(f"pitch must be between 0 and 99, got {pitch}.")
    if words_per_minute <= 0:
        raise ValueError(f"words_per_minute must be positive, got {words_per_minute}.")
    path = Path(path)
    # Text goes through stdin: no argv length limit, and text starting with "-" isn't an option.
    command = [_espeak(), "-v", voice, "-s", str(words_per_minute), "-p", str(pitch)]
    result = subprocess.run(
        [*command, "-w", str(path), "--stdin"],
        input=text.encode("utf-8"),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip()
        if "voice" in message.lower():
            raise unknown_choice("espeak-ng voice", voice, available_espeak_voices())
        raise DemoError(f"espeak-ng failed to synthesize speech: {message or 'no error output'}.")
    return path


def available_espeak_voices() -> list[str]:
    """Language codes espeak-ng accepts as ``voice`` (e.g. "en-us", "de"), sorted."""
    result = subprocess.run([_espeak(), "--voices"], capture_output=True, text=True, check=True)
    # Columns: Pty Language Age/Gender VoiceName File Other Languages; first line is the header.
    lines = result.stdout.splitlines()[1:]
    return sorted({line.split()[1] for line in lines if len(line.split()) > 1})


def _espeak() -> str:
    executable = shutil.which(_ESPEAK)
    if executable is None:
        raise DemoError(
            "espeak-ng is not installed; install it with `sudo apt-get install espeak-ng` "
            "(or `brew install espeak-ng` on macOS)."
        )
    return executable


def _file_size(path: Path, name: str) -> int:
    try:
        if path.is_dir():
            raise AudioError(f"{name} is a folder, not an audio file; choose a file inside it.")
        if not path.is_file() and path.exists():  # /dev/zero, a FIFO: reading could never end
            raise AudioError(
                f"{name} is not a regular file (a device or a pipe); choose an audio file."
            )
        return path.stat().st_size
    except FileNotFoundError:
        raise AudioError(f"Audio file not found: {name}; check the path.") from None
    except OSError as exc:
        raise AudioError(f"Can't open the audio file {name}: {exc.strerror}.") from exc


def _check_size(size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise AudioError("The file is empty (0 bytes); record or upload the audio again.")
    if max_bytes is not None and size > max_bytes:
        raise AudioError(
            f"The file is {_format_bytes(size)}, over the {_format_bytes(max_bytes)} limit; "
            "upload a shorter or more compressed recording, or raise max_bytes."
        )


def _not_audio() -> AudioError:
    return AudioError(f"The file isn't a readable audio file; use one of: {ACCEPTED_FORMATS}.")


def _truncation_note(got: float, claimed: float | None) -> str:
    of = f" of the {_format_seconds(claimed)} its header promises" if claimed else ""
    return (
        f"The file is truncated: only {_format_seconds(got)}{of} could be read, so the "
        "transcript covers only that part."
    )


def _note_short_wav(head: bytes, size: int, audio: np.ndarray, notes: list[str] | None) -> None:
    """FFmpeg sizes a WAV by the bytes present, so a cut-off recording looks whole: compare the
    data chunk's declared size with what the file holds."""
    if notes is None or not audio.size or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    if any(note.startswith("The file is truncated") for note in notes):
        return
    offset, rate_bytes = 12, None
    while offset + 8 <= len(head):
        chunk, length = (
            head[offset : offset + 4],
            int.from_bytes(head[offset + 4 : offset + 8], "little"),
        )
        if chunk == b"fmt " and offset + 20 <= len(head):
            rate_bytes = int.from_bytes(head[offset + 16 : offset + 20], "little")  # bytes/s
        elif chunk == b"data":
            available = size - (offset + 8)
            if rate_bytes and length > available + rate_bytes * TRUNCATION_SLACK_SECONDS:
                notes.append(_truncation_note(len(audio) / SAMPLE_RATE, length / rate_bytes))
            return
        offset += 8 + length + (length & 1)


def _decode(file, max_seconds: float | None, notes: list[str] | None = None) -> np.ndarray:
    try:
        container = av.open(file, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, EOFError) as exc:
        raise _not_audio() from exc
    with container:
        if not container.streams.audio:
            video = [s for s in container.streams.video if s.codec.name not in _IMAGE_CODECS]
            # Images open as one-frame video ("png_pipe"); they are "not audio", not "silent video".
            if video and not container.format.name.endswith("_pipe"):
                raise AudioError(
                    "The file is a video without an audio track; upload a recording with sound."
                )
            raise _not_audio()
        try:
            audio, cut_short = _decode_stream(container, container.streams.audio[0], max_seconds)
        except AudioError:
            raise
        except (av.error.FFmpegError, ValueError, EOFError) as exc:
            raise _not_audio() from exc
        claimed = _claimed_seconds(container, container.streams.audio[0])
    got = len(audio) / SAMPLE_RATE
    if (
        notes is not None
        and audio.size
        and (
            cut_short or (claimed and claimed - got > max(TRUNCATION_SLACK_SECONDS, 0.02 * claimed))
        )
    ):
        notes.append(_truncation_note(got, claimed))
    return audio


def _decode_stream(container, stream, max_seconds: float | None) -> tuple[np.ndarray, bool]:
    """(samples, cut short): the second is True when a read error ended the decoding early."""
    limit = None
    if max_seconds is not None:
        limit = int((max_seconds + _DURATION_SLACK_SECONDS) * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    bad_packets = 0
    resampler = None
    setup = None
    cut_short = False
    try:
        for packet in container.demux(stream):
            try:
                frames = packet.decode()  # the final empty packet flushes the decoder
            except av.error.InvalidDataError:
                # Browsers' recordings often end on a cut-off packet; skip damaged packets
                # like the ffmpeg CLI does, and refuse only if nothing decodes at all.
                bad_packets += 1
                continue
            for frame in frames:
                frame_setup = (frame.format.name, frame.layout.name, frame.sample_rate)
                if frame_setup != setup:
                    # A stream can change rate or channels midway; a resampler can't.
                    if resampler is not None:
                        total += _resample(resampler, None, chunks)
                    # Mono or stereo is averaged here: FFmpeg's float downmix sums stereo at
                    # -3 dB each, which is louder than either channel and can clip. Surround
                    # goes through FFmpeg's downmix, which weights the centre (dialogue) channel.
                    layout = frame.layout.name if frame.layout.nb_channels <= 2 else "mono"
                    resampler = av.AudioResampler(format="fltp", layout=layout, rate=SAMPLE_RATE)
                    setup = frame_setup
                total += _resample(resampler, frame, chunks)
                if limit is not None and total > limit:
                    raise _too_long(container, stream, max_seconds)
    except av.error.FFmpegError:
        # A read error after some audio decoded is a truncated file: keep what was read.
        if not chunks:
            raise
        cut_short = True
    if resampler is not None:
        total += _resample(resampler, None, chunks)  # it holds back a few samples until flushed

    if not chunks:
        # A header that promises audio but no decodable frame means the data is corrupt;
        # only a file that claims nothing (a bare WAV header) is really 0 seconds long.
        if bad_packets or _claimed_seconds(container, stream):
            raise _not_audio()
        return np.zeros(0, dtype=np.float32), False
    if limit is not None and total > limit:
        raise _too_long(container, stream, max_seconds)
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    # Float decoders (mp3, aac, opus) can overshoot full scale slightly; corrupt data gives NaN.
    return np.clip(np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0), cut_short


def _resample(resampler, frame, chunks: list[np.ndarray]) -> int:
    count = 0
    for out in resampler.resample(frame):
        chunk = out.to_ndarray().mean(axis=0, dtype=np.float32)
        chunks.append(chunk)
        count += len(chunk)
    return count


def _claimed_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _too_long(container, stream, max_seconds: float) -> AudioError:
    seconds = _claimed_seconds(container, stream)
    limit = _format_seconds(max_seconds)
    if seconds is not None and seconds > max_seconds:
        length = f"is {_format_seconds(seconds)} long, over the {limit} limit"
    else:  # browser recordings (webm) often don't store their length
        length = f"is longer than the {limit} limit"
    return AudioError(f"The audio {length}; trim it or raise max_seconds.")


def _format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_bytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size >= 2**20 else f"{size / 2**10:.1f} KiB"

"""Acoustic conditions for synthetic speech: additive noise, room reverb, a telephone line.

Plain numpy on 16 kHz float waveforms, all randomness from a ``numpy.random.Generator`` the
caller seeds, so a corpus is the same bytes every time it is built. The SNR is the ratio of
the power of the whole clip (as given, reverb included) to the power of the added noise.
The room is a synthetic impulse response: a direct path, then an exponentially decaying
noise tail that falls by 60 dB in RT60 seconds (the textbook diffuse-field model, as used by
reverb augmentation when no measured responses are at hand). The telephone line is the
narrowband channel of G.712/G.711: a 300-3400 Hz band-pass, then 8 kHz sampling with 8-bit
mu-law companding, and back to 16 kHz.
"""

from __future__ import annotations

import numpy as np

from demo.audio import SAMPLE_RATE

NOISES = ("white", "pink")
BANDS = ("wide", "telephone")
TELEPHONE_BAND_HZ = (300.0, 3400.0)
TELEPHONE_RATE = 8000
_MU = 255.0  # G.711 mu-law
# Energy of the direct path over the reverberant tail; a talker a metre or two from the mic.
DIRECT_TO_REVERB_DB = 3.0
PRE_DELAY_SECONDS = 0.005  # first reflections arrive a few milliseconds after the direct sound
_LN_1000 = np.log(1000.0)  # -60 dB in amplitude


def noise(length: int, colour: str, rng: np.random.Generator) -> np.ndarray:
    """Unit-power white or pink (1/f power) Gaussian noise of ``length`` samples."""
    if colour not in NOISES:
        raise ValueError(f"colour must be one of {', '.join(NOISES)}, not {colour!r}.")
    white = rng.standard_normal(length, dtype=np.float32)
    if colour == "pink" and length > 1:
        spectrum = np.fft.rfft(white)
        frequencies = np.fft.rfftfreq(length, d=1.0 / SAMPLE_RATE)
        shape = np.zeros_like(frequencies)
        shape[1:] = 1.0 / np.sqrt(frequencies[1:])  # amplitude 1/sqrt(f): power 1/f; no DC
        white = np.fft.irfft(spectrum * shape.astype(np.float32), n=length)
    return white / max(float(np.sqrt(np.mean(white**2))), 1e-12)


def add_noise(
    audio: np.ndarray, snr_db: float, colour: str, rng: np.random.Generator
) -> np.ndarray:
    """``audio`` plus noise whose power is ``snr_db`` below the audio's power."""
    power = float(np.mean(np.asarray(audio, dtype=np.float64) ** 2))
    scale = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    return (audio + scale * noise(len(audio), colour, rng)).astype(np.float32)


def impulse_response(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: unit direct path, then a noise tail decaying 60 dB over ``rt60`` s."""
    if rt60 <= 0:
        raise ValueError(f"rt60 must be positive, got {rt60}.")
    delay = int(PRE_DELAY_SECONDS * SAMPLE_RATE)
    t = np.arange(int(rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.standard_normal(len(t)) * np.exp(-_LN_1000 * t / rt60)
    tail *= np.sqrt(10.0 ** (-DIRECT_TO_REVERB_DB / 10.0) / np.sum(tail**2))
    response = np.zeros(delay + len(t))
    response[0] = 1.0
    response[delay:] += tail
    return response


def reverberate(audio: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """``audio`` heard in a room of ``rt60`` seconds, same length and RMS as the input."""
    audio = np.asarray(audio, dtype=np.float32)
    response = impulse_response(rt60, rng).astype(np.float32)  # float32 FFTs: twice as fast
    n = _fast_length(len(audio) + len(response) - 1)
    wet = np.fft.irfft(np.fft.rfft(audio, n) * np.fft.rfft(response, n), n)[: len(audio)]
    rms_in = float(np.sqrt(np.mean(np.asarray(audio, dtype=np.float64) ** 2)))
    rms_out = max(float(np.sqrt(np.mean(wet**2))), 1e-12)
    return (wet * (rms_in / rms_out)).astype(np.float32)


def _fast_length(size: int) -> int:
    """The smallest 2^a 3^b 5^c >= size: FFTs of such lengths are fast, and far shorter than
    the next power of two."""
    best = 1 << (size - 1).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            length = power35
            while length < size:
                length *= 2
            best = min(best, length)
            power35 *= 3
        power5 *= 5
    return best


def telephone(audio: np.ndarray) -> np.ndarray:
    """``audio`` (16 kHz) as heard through a telephone: 300-3400 Hz, 8 kHz mu-law, 16 kHz again.

    The band-pass is a 4th-order Butterworth run forwards and backwards (no phase shift); at
    8 kHz each sample is mu-law coded to 8 bits, as G.711 does; same length and RMS as the input.
    """
    from scipy.signal import butter, resample_poly, sosfiltfilt

    audio = np.asarray(audio, dtype=np.float64)
    sos = butter(4, TELEPHONE_BAND_HZ, btype="bandpass", fs=SAMPLE_RATE, output="sos")
    narrow = resample_poly(sosfiltfilt(sos, audio), TELEPHONE_RATE, SAMPLE_RATE)
    peak = max(float(np.max(np.abs(narrow))), 1e-12)
    coded = np.sign(narrow) * np.log1p(_MU * np.abs(narrow) / peak) / np.log1p(_MU)
    coded = np.round(coded * 127) / 127  # 8 bits: sign + 7-bit magnitude
    decoded = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(_MU)) / _MU * peak
    wide = resample_poly(decoded, SAMPLE_RATE, TELEPHONE_RATE)[: len(audio)]
    wide = np.pad(wide, (0, len(audio) - len(wide)))
    rms_in = float(np.sqrt(np.mean(audio**2)))
    rms_out = max(float(np.sqrt(np.mean(wide**2))), 1e-12)
    return (wide * (rms_in / rms_out)).astype(np.float32)

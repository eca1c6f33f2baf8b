"""Speech and silence by frame energy: 20 ms frames in dB and which of them are quiet against
the clip's own loud frames and noise floor. Used to cut long audio at pauses, to snap segment
edges onto the voice and to tell whether speech follows a window's last timestamp."""

from __future__ import annotations

import numpy as np

from demo.audio import SAMPLE_RATE

FRAME = SAMPLE_RATE // 50  # 20 ms energy frames
QUIET_DB = 30.0  # a frame this far below the clip's loud frames counts as silence
FLOOR_DB = 6.0  # ... or this close to its noise floor, whichever is higher


def frame_db(audio: np.ndarray) -> np.ndarray:
    """Energy in dB of each 20 ms frame."""
    count = len(audio) // FRAME
    frames = np.asarray(audio[: count * FRAME], dtype=np.float64).reshape(count, FRAME)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-10)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(first, end)`` indices of each run of true values in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def silent_frames(db: np.ndarray) -> np.ndarray:
    """Which frames are silence: quiet against the clip's own speech and noise levels."""
    loud, floor = np.percentile(db, 95), np.percentile(db, 5)
    return db < max(loud - QUIET_DB, floor + FLOOR_DB)

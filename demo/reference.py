"""The thesis's published tables (``assets/reference/*.csv``): reported numbers, never ours.

Training reads its default learning rates from here; the dashboard draws the rest as
"(reported)" beside what our runs measured.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

from demo.errors import DemoError, unknown_choice

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "assets" / "reference"
REFERENCE_TABLES = {
    "rouge": "thesis_rouge.csv",  # Tables 3.3/3.4: ROUGE x100 per dataset, model, method
    "whisper_wer": "thesis_whisper_wer.csv",  # Table 4.4: WER % after 6 epochs, size x mode
    "whisper_memory": "thesis_whisper_memory.csv",  # Table 4.2: stored size (MB) per precision
    "whisper_train_time": "thesis_whisper_train_time.csv",  # Table 4.3: minutes per epoch
    "whisper_hparams": "thesis_whisper_hparams.csv",  # Table 4.1: learning rates, batch sizes
}


def available_references() -> list[str]:
    """Names accepted by ``load_reference``."""
    return list(REFERENCE_TABLES)


def load_reference(name: str) -> pd.DataFrame:
    """A thesis table from ``assets/reference`` (a fresh copy); blank cells are NaN.

    ``name`` is a ``REFERENCE_TABLES`` key such as ``"whisper_wer"``; the file stem
    (``"thesis_whisper_wer"``) works too.
    """
    key = name.removesuffix(".csv").removeprefix("thesis_")
    if key not in REFERENCE_TABLES:
        raise unknown_choice("reference table", name, available_references())
    return _read_reference(key).copy()


@lru_cache(maxsize=len(REFERENCE_TABLES))
def _read_reference(key: str) -> pd.DataFrame:
    path = REFERENCE_DIR / REFERENCE_TABLES[key]
    if not path.is_file():
        raise DemoError(f"Reference table {path.name} is missing from {REFERENCE_DIR}.")
    return pd.read_csv(path)

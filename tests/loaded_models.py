"""Real models as module-scoped fixtures: one line per model a test module needs.

    tiny_full = cpu_model("tiny_full", "asr", "tiny.en", "full")

loads Whisper tiny.en at full precision on the CPU, through ``demo.models.load_model`` as the
app loads it, once for the module that defines it (and drops it when that module is done).
"""

from __future__ import annotations

import pytest

from demo.models import ModelSpec, load_model

TINY_PARAMS = 37_760_256  # tiny.en, tied output projection counted once
TINY_QUARTER_PARAMS = 31_272_192  # fc1/fc2 at r = 96: 16 x (1536 x 384 -> 96 x 1920)


def cpu_model(fixture: str, role: str, name: str, quant: str = "auto"):
    """A module-scoped fixture called ``fixture``: the ``role`` model ``name`` at ``quant``."""

    def loaded():
        return load_model(ModelSpec(role, name, quant, device="cpu"))

    return pytest.fixture(scope="module", name=fixture)(loaded)

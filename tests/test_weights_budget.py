"""The checked-in trained parts stay within the stated budget (issue 38): every safetensors
file git tracks under checkpoints/ (adapters, low-rank configs' factors, the bridge's and the
E2E model's query paths, all fp16 where they are large), together, at most WEIGHTS_BUDGET_MB.
docs/systems/bridge-e2e.md, "What a fresh clone runs", says what is in it and why."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_BUDGET_MB = 100


def _tracked_weights() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "checkpoints"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing tells committed weights from local ones")
    names = [line for line in out.stdout.splitlines() if line.endswith(".safetensors")]
    return [ROOT / name for name in names if (ROOT / name).is_file()]


def test_checked_in_weights_stay_within_the_budget():
    files = _tracked_weights()
    total = sum(f.stat().st_size for f in files) / 2**20
    assert files, "the app's trained parts (adapters at least) are checked in"
    assert total <= WEIGHTS_BUDGET_MB, f"{total:.1f} MB of weights in git"
    # Never a frozen base: no file is anywhere near a whole Whisper tiny (~75 MB in fp16).
    assert max(f.stat().st_size for f in files) < 40 * 2**20

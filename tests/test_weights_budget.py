"""The checked-in trained parts stay within the stated budget (issue 38): every safetensors
file git tracks under checkpoints/ (adapters, low-rank configs' factors, the bridge's and the
E2E model's query paths, all fp16 where they are large), together, at most WEIGHTS_BUDGET_MB.
docs/systems/bridge-e2e.md, "What a fresh clone runs", says what is in it and why."""

WEIGHTS_BUDGET_MB = 100


def test_checked_in_weights_stay_within_the_budget(tracked_checkpoints):
    files = [f for f in tracked_checkpoints if f.suffix == ".safetensors"]
    total = sum(f.stat().st_size for f in files) / 2**20
    assert files, "the app's trained parts (adapters at least) are checked in"
    assert total <= WEIGHTS_BUDGET_MB, f"{total:.1f} MB of weights in git"
    # Never a frozen base: no file is anywhere near a whole Whisper tiny (~75 MB in fp16).
    assert max(f.stat().st_size for f in files) < 40 * 2**20

"""Small spoken corpora for tests: sentences read by espeak-ng into a manifest."""

from __future__ import annotations

import json
from pathlib import Path

from demo.audio import synthesize_speech

# Short sentences with their splits: four to train on, two to validate.
SENTENCES = [
    ("The old farmer carried a wooden chair near the river.", "train"),
    ("My younger sister painted the red bicycle in the kitchen.", "train"),
    ("A tired doctor found some fresh bread behind the station.", "train"),
    ("The quiet teacher repaired an empty bottle at the market.", "train"),
    ("Our neighbor borrowed the heavy box under the bridge.", "validation"),
    ("The baker sold a yellow umbrella at the airport.", "validation"),
]


def spoken_manifest(root: Path, rows: list[dict]) -> Path:
    """Speak each row's "text" into ``root/<i>.wav`` and write ``root/manifest.jsonl``: the rows
    with their "audio" first, as the training toolkit reads them."""
    lines = []
    for i, row in enumerate(rows):
        synthesize_speech(row["text"], root / f"{i}.wav")
        lines.append(json.dumps({"audio": f"{i}.wav", **row}) + "\n")
    manifest = root / "manifest.jsonl"
    manifest.write_text("".join(lines))
    return manifest

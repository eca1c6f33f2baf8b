"""Built-in datasets: real data that ships with the toolkit's packages, found by name.

``--dataset NAME`` in the training scripts looks here first, then at Hugging Face. Each entry
maps a split (train, validation, test) to summarizer rows with ``text``, ``summary`` and
``paper``. The package is called ``corpora``, not ``datasets``, so that it can never shadow
the Hugging Face ``datasets`` package when a file in ``training/`` runs as a script.
``training.corpora.spoken`` turns their sentences into text espeak-ng can speak, for
``training.make_speech_corpus --source aclsum``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from demo.errors import unknown_choice
from training.corpora import aclsum

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class BuiltinDataset:
    name: str  # what --dataset takes
    description: str  # one line for --help and listings
    rows: Callable[[str], list[dict[str, str]]]  # split -> rows (text, summary, paper)
    kind: str = "summarization"  # the task the rows are for


_DESCRIPTIONS = {
    "aclsum": "ACLSum abstract -> challenge, approach and outcome sentences (100/50/100 papers)",
    **{
        f"aclsum-{aspect}": f"ACLSum abstract + introduction + conclusion -> the {aspect} sentence"
        for aspect in aclsum.ASPECTS
    },
}
BUILTIN_DATASETS = {
    name: BuiltinDataset(name, _DESCRIPTIONS[name], rows) for name, rows in aclsum.TASKS.items()
}


def available_datasets() -> list[str]:
    """Names ``--dataset`` accepts without Hugging Face."""
    return sorted(BUILTIN_DATASETS)


def is_builtin(name: str | None) -> bool:
    """True when ``name`` is a built-in dataset (looked up before Hugging Face)."""
    return name in BUILTIN_DATASETS


def builtin_rows(name: str, split: str) -> list[dict[str, str]]:
    """Rows of one split of a built-in dataset; unknown names and splits list the valid ones."""
    if name not in BUILTIN_DATASETS:
        raise unknown_choice("built-in dataset", name, available_datasets())
    if split not in SPLITS:
        raise unknown_choice(f"split of {name}", split, list(SPLITS))
    return BUILTIN_DATASETS[name].rows(split)

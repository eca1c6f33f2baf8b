"""Per-paper ROUGE for ``summarize-*.json`` files written before ``bench.summarize`` kept it:
each stored summary is scored again against its paper's reference (ACLSum, looked up by the
paper id the file stored), seconds of CPU and no model, so the report can draw paired
intervals between engines on the same papers.

    python -m bench.doc_scores checkpoints/bench/summarize-aclsum-test.json

A file is rewritten only when the papers' mean ROUGE-L equals the ROUGE-L it stored (so the
references are the ones it was scored against); files that already keep per-paper scores, or
that hold no ACLSum rows, are left as they are.
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.env import one_line_errors, read_results
from bench.summarize import DOCUMENT_SCORES, aclsum_documents, keep_document_scores
from demo.errors import DemoError
from demo.options import OneLineParser
from demo.provenance import write_json_atomic

MAX_FILES = 50
TOLERANCE = 1e-6  # the stored ROUGE-L against the mean of the papers' scores


def _references(split: str, ids: list[str]) -> list[str]:
    by_id = {d.id: d.reference for d in aclsum_documents(split, 10_000)}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DemoError(f"ACLSum {split} has no paper {missing[0]!r}: not this file's data.")
    return [by_id[i] for i in ids]


def add_document_scores(path: Path) -> str:
    """Score the stored summaries of one file paper by paper; what was done, in one line."""
    data = read_results(path)
    if not data or not isinstance(data.get("rows"), list):
        raise DemoError(f"{path} is not a bench.summarize result file.")
    rows = [r for r in data["rows"] if r.get("set") == "aclsum" and r.get("summaries")]
    todo = [r for r in rows if any(k not in r["summaries"][0] for k in DOCUMENT_SCORES)]
    if not todo:
        return f"{path.name}: nothing to add"
    for row in todo:
        ids = [s["id"] for s in row["summaries"]]
        keep_document_scores(row["summaries"], _references(row["split"], ids))
        mean = sum(s["rougeL"] for s in row["summaries"]) / len(ids)
        stored = (row.get("scores") or {}).get("rougeL")
        if stored is None or not math.isclose(mean, stored, abs_tol=TOLERANCE):
            raise DemoError(
                f"{path.name} {row.get('engine')}: the papers' mean ROUGE-L {mean:.6f} is not "
                f"the stored {stored}: the references differ, so nothing was written."
            )
    data["meta"]["document_scores"] = f"python -m bench.doc_scores {path.as_posix()}"
    write_json_atomic(path, data)
    return f"{path.name}: per-paper {', '.join(DOCUMENT_SCORES)} added to {len(todo)} rows"


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.doc_scores", description=__doc__)
    parser.add_argument("files", nargs="+", type=Path, help="summarize-*.json result files")
    args = parser.parse_args(argv)
    if len(args.files) > MAX_FILES:
        raise DemoError(f"At most {MAX_FILES} files at once; got {len(args.files)}.")
    for path in args.files:
        print(add_document_scores(path))


if __name__ == "__main__":
    main()

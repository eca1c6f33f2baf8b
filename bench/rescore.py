"""Score finished Whisper runs again, on splits they were not scored on, with training's own
evaluation (the same batches, decoding cap and WER as a run's metrics.jsonl lines).

    python -m bench.rescore checkpoints/asr-tiny.en-int8-lora-sci checkpoints/asr-tiny.en-full-v2 \\
        --train data/corpus-v2/manifest.jsonl --max-test-samples 80 --real-speech-clips 200 \\
        --sample-seed 0 --name grid-transfer

Each run is rebuilt from its run.json (base model at its training precision, plus its
``adapter/`` or its full fine-tune's ``checkpoint-final/``; a run without either is skipped and
said so) and scored on the ``--train`` manifest's test split and on the real-speech set, so
the espeak grid's cells and the corpus-v2 grid's can sit in one table. ``--untrained`` adds the
base model itself (fp32). One row per run and split in ``checkpoints/bench/<name>.json``,
written after every run; ``--resume`` keeps the rows of the runs already there and scores the
rest (a long rescore cut short loses at most the run it was on).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.env import (
    DEFAULT_OUT,
    OVERWRITE,
    add_output_flags,
    check_output,
    meta,
    one_line_errors,
    read_results,
    write_results,
)
from demo.options import OneLineParser
from demo.runinfo import TEST_SPLIT
from training.corpora.real_speech import SPLIT as REAL_SPLIT

SPLITS_KEPT = (TEST_SPLIT, REAL_SPLIT)  # the sample (jfk + multilingual) is not rescored
KIND = "rescore"  # the rows' "kind" (results.charts.corpus draws them)


class _Lines:
    """A run writer that keeps the metrics lines instead of appending them to a run."""

    def __init__(self) -> None:
        self.lines: list[dict] = []
        self.examples: dict[str, tuple[list, list]] = {}  # split -> (references, predictions)

    def append_metrics(self, line: dict) -> None:
        self.lines.append(line)

    def write_predictions(self, split: str, step: int, references: list, predictions: list):
        self.examples[split] = (list(references), list(predictions))


def _config(run_dir: Path | None, model: str, args) -> Any:
    from demo.options import from_dict
    from training.config import AsrConfig

    saved = json.loads((run_dir / "run.json").read_text())["config"] if run_dir else {}
    values = {**saved, **({} if run_dir else {"method": "full", "quant": "fp32"})}
    values.update(
        model=model, train=str(args.train), validation=None, max_train_samples=8,
        max_val_samples=1, max_test_samples=args.max_test_samples, sample_seed=args.sample_seed,
        eval_real_speech=REAL_SPLIT in args.splits, real_speech_clips=args.real_speech_clips,
        resume=None,
        eval_batch_size=args.eval_batch_size, device="cpu",
    )  # fmt: skip
    return from_dict(AsrConfig, values)  # a run.json's older keys (precision) read as today's


def run_weights(run_dir: Path) -> tuple[str, Path] | None:
    """("adapter" | "full", folder) of a run's trained weights in git, or None."""
    if (run_dir / "adapter").is_dir():
        return "adapter", run_dir / "adapter"
    if (run_dir / "checkpoint-final").is_dir():
        return "full", run_dir / "checkpoint-final"
    return None


def rescore(run_dir: Path | None, args) -> list[dict[str, Any]]:
    """The metrics lines of one run (None: the untrained base ``args.base``) on the splits."""
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    from training.compress import CompressionHooks
    from training.evaluate import evaluate
    from training.modeling import load_base
    from training.session import Progress
    from training.train_asr import AsrTask

    weights = run_weights(run_dir) if run_dir else None
    model_name = args.base
    if run_dir is not None:
        model_name = json.loads((run_dir / "run.json").read_text())["model"]
        if weights and weights[0] == "full":
            model_name = str(weights[1])
    config = _config(run_dir, model_name, args)
    model, processor, entry = load_base(config, "asr", "cpu")
    if weights and weights[0] == "adapter":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(weights[1]))
    task = AsrTask()
    data = task.data(config, processor, entry)
    session = SimpleNamespace(
        accelerator=Accelerator(cpu=True), task=task, config=config, progress=Progress(),
        unwrapped=model, trainable=SimpleNamespace(processor=processor, entry=entry,
                                                   hooks=CompressionHooks()),
        val_loader=None, main=True, scheduler=SimpleNamespace(get_last_lr=lambda: [0.0]),
        weights_step=None, writer=_Lines(), batches_per_epoch=1,
    )  # fmt: skip
    for split, dataset in data.evals.items():
        if split in args.splits:
            loader = DataLoader(dataset, batch_size=config.eval_batch_size or 8,
                                shuffle=False, collate_fn=data.collate)  # fmt: skip
            evaluate(session, epoch_end=False, split=split, loader=loader)
    run_id = run_dir.name if run_dir else f"{args.base} (untrained)"
    keep = ("split", "loss", "wer", "cer", "wer_raw", "cer_raw", "eval_samples", "eval_seconds")
    model = entry.name if run_dir is None else config.model
    rows = []
    for line in session.writer.lines:
        references, predictions = session.writer.examples.get(line["split"], ([], []))
        rows.append({"kind": KIND, "config": run_id, "run": run_id, "model": model,
                     "method": config.method, "quant": config.quant,
                     "manifest": str(args.train),  # its test split's source (results.paired)
                     **{k: line.get(k) for k in keep},
                     "references": references, "predictions": predictions})  # fmt: skip
    return rows


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    parser = OneLineParser(prog="python -m bench.rescore", description=__doc__)
    add_output_flags(parser)
    parser.add_argument("runs", nargs="*", type=Path, help="run folders (checkpoints/<run-id>)")
    parser.add_argument("--train", type=Path, required=True, help="a manifest with a test split")
    parser.add_argument("--untrained", action="store_true", help="also score --base untrained")
    parser.add_argument("--base", default="tiny.en", help="the --untrained model")
    parser.add_argument("--max-test-samples", type=int, default=None)
    parser.add_argument("--real-speech-clips", type=int, default=None)
    parser.add_argument(
        "--splits",
        nargs="+",
        choices=SPLITS_KEPT,
        default=list(SPLITS_KEPT),
        help="the splits to score (default: both)",
    )
    parser.add_argument("--sample-seed", type=int, default=None)
    parser.add_argument("--eval-batch-size", type=int, default=8)
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--name", default="rescore")
    parser.add_argument("--resume", action="store_true", help="keep the rows already written")
    args = parser.parse_args(argv)
    info = meta("bench.rescore", argv)
    path = Path(args.out) / f"{args.name}.json"
    kept = (read_results(path) or {}).get("rows", []) if args.resume else []
    if not args.resume:
        check_output(Path(args.out), args.name)  # refused before an hour of scoring, not after
    OVERWRITE.set(True)  # this run's own file is rewritten after every model
    sources: list[Path | None] = ([None] if args.untrained else []) + list(args.runs)
    done = {row.get("run") for row in kept}
    rows: list[dict] = list(kept)
    for run_dir in sources:
        if run_dir is not None and not (run_dir / "run.json").is_file():
            raise SystemExit(f"{run_dir} is not a run folder (no run.json).")
        if (run_dir.name if run_dir else f"{args.base} (untrained)") in done:
            continue
        if run_dir is not None and run_weights(run_dir) is None:
            print(f"{run_dir.name}: no adapter/ or checkpoint-final/ here, skipped (its weights "
                  "are not in git: rerun its command from run.json)", file=sys.stderr)  # fmt: skip
            continue
        rows += rescore(run_dir, args)
        print(json.dumps({k: v for k, v in rows[-1].items() if not isinstance(v, list)}))
        write_results(args.out, args.name, info, rows)


if __name__ == "__main__":
    main()

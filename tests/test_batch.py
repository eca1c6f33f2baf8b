"""``python -m demo batch``: a folder of real clips (tiny.en), broken files, resuming, bounds.

The clips are 2 s slices of jfk.flac: Whisper pads each to a 30 s window, so a clip costs
about the same however short, and a short one keeps the slices distinct.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from demo.audio import SAMPLE_RATE, load_audio, write_wav
from demo.batch import RESULTS_CSV, RESULTS_JSONL, BatchOptions, find_audio, read_results
from demo.cli import EXIT_SOME_FAILED, EXIT_USER_ERROR, build_parser, main
from demo.metrics import wer

ROOT = Path(__file__).resolve().parent.parent
CLIP_SECONDS = 2
BROKEN = {"notes.wav": "isn't a readable audio file", "empty.mp3": "is empty (0 bytes)"}


def _folder(root: Path, jfk_path: Path, clips: int, broken: bool = True) -> Path:
    """``clips`` slices of jfk.flac (every third in a subfolder), the broken files, a .txt."""
    audio = load_audio(jfk_path)
    folder = root / "in"
    (folder / "sub").mkdir(parents=True)
    for i in range(clips):
        start = (i % 9) * SAMPLE_RATE
        place = folder / "sub" if i % 3 == 0 else folder
        write_wav(place / f"clip{i:02d}.wav", audio[start : start + CLIP_SECONDS * SAMPLE_RATE])
    if broken:
        (folder / "notes.wav").write_text("not audio")
        (folder / "empty.mp3").write_bytes(b"")
    (folder / "readme.txt").write_text("not an audio file: not picked up")
    return folder


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RESULTS_JSONL).read_text().splitlines()]


def test_folder_of_20_gives_18_results_2_errors_then_resumes(tmp_path, jfk_path, capsys):
    folder, out = _folder(tmp_path, jfk_path, 18), tmp_path / "out"
    code = main(["batch", str(folder), "--out", str(out), "--format", "json", "txt"])
    assert code == EXIT_SOME_FAILED  # some files failed; the run itself went to the end
    printed = capsys.readouterr().out
    assert "18 done, 2 failed, 0 skipped" in printed
    rows = _rows(out)
    assert len(rows) == 20
    ok = [r for r in rows if r["status"] == "ok"]
    errors = {r["file"]: r["error"] for r in rows if r["status"] == "error"}
    assert len(ok) == 18 and set(errors) == set(BROKEN)
    for name, sentence in BROKEN.items():
        assert sentence in errors[name] and "Traceback" not in errors[name]
        assert f"failed: {name}: " in printed
    assert {r["file"] for r in ok} >= {"sub/clip00.wav", "clip01.wav"}
    assert all(r["transcript"].strip() and r["audio_seconds"] == CLIP_SECONDS for r in ok)
    assert len({r["transcript"] for r in ok}) >= 5  # nine different slices, each its own text
    # one export per format per good file, the JSON being the whole result
    for row in ok:
        assert row["exports"] == [f"files/{row['file']}.json", f"files/{row['file']}.txt"]
        saved = json.loads((out / row["exports"][0]).read_text())
        assert saved["transcript"] == row["transcript"] and "timings" in saved
        assert row["transcript"] in (out / row["exports"][1]).read_text()
    table = (out / RESULTS_CSV).read_text().splitlines()
    assert len(table) == 21 and table[0].startswith("file,status,error")

    # Rerun: the 18 are skipped (their exports untouched), the 2 broken are tried again.
    stamp = (out / ok[0]["exports"][0]).stat().st_mtime_ns
    assert main(["batch", str(folder), "--out", str(out)]) == EXIT_SOME_FAILED
    assert "0 done, 2 failed, 18 skipped" in capsys.readouterr().out
    assert len(_rows(out)) == 22
    assert (out / ok[0]["exports"][0]).stat().st_mtime_ns == stamp

    # Repaired, and the last run killed mid-line: the torn line is skipped, the file redone.
    write_wav(folder / "notes.wav", load_audio(jfk_path)[: CLIP_SECONDS * SAMPLE_RATE])
    with (out / RESULTS_JSONL).open("a") as log:
        log.write('{"file": "clip01.wav", "status": "o')
    assert main(["batch", str(folder), "--out", str(out)]) == EXIT_SOME_FAILED
    assert "1 done, 1 failed, 18 skipped" in capsys.readouterr().out
    latest = read_results(out)
    assert latest["notes.wav"]["status"] == "ok" and latest["empty.mp3"]["status"] == "error"
    assert len((out / RESULTS_CSV).read_text().splitlines()) == 21  # one row a file


def test_workers_in_processes_give_the_same_transcripts(tmp_path, jfk_path):
    folder, out = _folder(tmp_path, jfk_path, 3, broken=False), tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(tmp_path / "one")]) == 0
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "demo", "batch", str(folder), "--out", str(out), "--workers", "2"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "3 done, 0 failed" in proc.stdout
    assert "Warning" not in proc.stderr and "Traceback" not in proc.stderr
    one = {k: r["transcript"] for k, r in read_results(tmp_path / "one").items()}
    two = {k: r["transcript"] for k, r in read_results(out).items()}
    assert one == two and len(two) == 3


def test_glob_and_shards_split_the_files(tmp_path, jfk_path):
    folder = _folder(tmp_path, jfk_path, 5, broken=False)
    root, files = find_audio(str(folder / "**" / "*.wav"), max_files=100)
    assert root == folder and len(files) == 5
    names = [f.relative_to(root).as_posix() for f in files]
    assert "sub/clip00.wav" in names and "readme.txt" not in names
    shares = []
    for k in (1, 2):
        out = tmp_path / f"shard{k}"
        assert main(["batch", str(folder), "--out", str(out), "--shard", f"{k}/2"]) == 0
        shares.append(set(read_results(out)))
    assert shares[0].isdisjoint(shares[1]) and len(shares[0] | shares[1]) == 5


def test_bounds_and_bad_arguments_are_one_sentence(tmp_path, jfk_path, capsys):
    folder, out = _folder(tmp_path, jfk_path, 3), tmp_path / "out"
    assert main(["batch", str(folder), "--out", str(out), "--max-files", "4"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "holds 5 audio files, over the limit of 4" in err and "--max-files" in err
    assert not out.exists()  # refused before anything ran
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(out)]) == EXIT_USER_ERROR
    assert "is not a folder, a file or a glob" in capsys.readouterr().err
    for flags, message in (
        (["--shard", "3/2"], "K must be between 1 and N"),
        (["--shard", "half"], "shard must look like 2/4"),
        (["--format", "docx"], "Unknown export format 'docx'"),
        (["--workers", "0"], "workers must be between 1"),
        (["--max-file-mb", "500"], "max_file_mb must be above 0 and at most 100"),
    ):
        assert main(["batch", str(folder), "--out", str(out), *flags]) == EXIT_USER_ERROR
        assert message in capsys.readouterr().err
    # A file over the size bound is an error row, not the end of the run.
    small = tmp_path / "small"
    code = main(["batch", str(folder), "--out", str(small), "--max-file-mb", "0.01"])
    assert code == EXIT_SOME_FAILED
    errors = [r["error"] for r in _rows(small) if r["status"] == "error"]
    assert sum("over the --max-file-mb limit of 0.01 MB" in e for e in errors) == 3


def test_batch_flags_are_the_option_fields():
    import dataclasses

    from demo.pipeline import PipelineOptions

    batch = build_parser()._subparsers._group_actions[0].choices["batch"]
    flags = {a.dest for a in batch._actions} - {"help", "source"}
    fields = {f.name for cls in (PipelineOptions, BatchOptions) for f in dataclasses.fields(cls)}
    assert flags == fields


def test_a_good_transcript_matches_the_clip(tmp_path, jfk_path, jfk_text):
    # The whole of jfk.flac through batch reads as the sentence (a WER bound, not exact text).
    folder = tmp_path / "one"
    folder.mkdir()
    write_wav(folder / "jfk.wav", load_audio(jfk_path))
    assert main(["batch", str(folder), "--out", str(tmp_path / "out")]) == 0
    assert wer(jfk_text, read_results(tmp_path / "out")["jfk.wav"]["transcript"]) <= 0.1

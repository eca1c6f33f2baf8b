"""Run, metrics and benchmark files read through one tolerant reader (``demo.jsonfiles``): a
damaged value, line or file is a warning, never an exception, and every good run is still
drawn (issue 39: one damaged run file made every widget of two tabs show "Error")."""

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import handlers as h
from demo.jsonfiles import INT64, MAX_DEPTH, JsonProblem, nesting_depth, parse_json, read_jsonl
from results.bench_files import load_bench
from results.runs import TEXT_KEYS, load_run

HUGE = "1" + "0" * 400  # an integer too large for a float
DEEP = "[" * 100_000 + "]" * 100_000


def _damage(root):
    """Three runs beside the good ones, each damaged the way the probe found."""
    huge_metric = root / "asr-tiny-full-fp32" / "metrics.jsonl"  # a good run gains one bad line
    with huge_metric.open("a") as handle:
        handle.write('{"step": 99, "epoch": 3.0, "split": "validation", "wer": ' + HUGE + "}\n")
    info = json.loads((root / "sum-t5-lora-r4" / "run.json").read_text())
    big = json.dumps({**info, "run_id": "sum-big", "trainable_params": 0}).replace(
        '"trainable_params": 0', '"trainable_params": ' + str(2**64 + 1)
    )
    (root / "sum-big").mkdir()
    (root / "sum-big" / "run.json").write_text(big)
    (root / "sum-big" / "metrics.jsonl").write_text('{"step": 1, "rouge1": 0.3}\n')
    (root / "deep").mkdir()
    (root / "deep" / "run.json").write_text('{"task": "asr", "config": ' + DEEP + "}")
    (root / "digits").mkdir()
    (root / "digits" / "metrics.jsonl").write_text('{"wer": ' + "9" * 5000 + "}\n")


def test_damaged_runs_are_warnings_beside_every_good_run(dashboard_root):
    _damage(dashboard_root)
    out = h.refresh_runs({"theme": "light"})
    summary = out["summary"]
    assert "**10 runs**" in summary  # 7 written (one killed mid-write) and the 3 damaged ones
    for run_id in ("asr-tiny-full-fp32", "sum-big", "deep", "digits"):
        assert run_id in summary
    assert "too large" in summary and "nests deeper" in summary
    assert len(out["final"]) >= 6  # the good runs' final metrics are all drawn
    reported = h.refresh_reported({"theme": "light"})
    assert reported["findings"]


def test_an_integer_too_large_keeps_the_rest_of_the_line(tmp_path, write_run):
    run_dir = write_run(tmp_path, "r", {}, [{"step": 1, "split": "validation", "wer": 0.2}])
    with (run_dir / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 2, "split": "validation", "wer": ' + HUGE + "}\n")
        handle.write('{"step": 3, "split": "validation", "wer": "low", "cer": 0.1}\n')
        handle.write('{"step": 4, "split": {"a": 1}, "wer": 0.1}\n')
    run = load_run(run_dir)
    assert [m["step"] for m in run.metrics] == [1, 2, 3]
    assert "wer" not in run.metrics[1] and "wer" not in run.metrics[2]
    assert run.metrics[2]["cer"] == 0.1
    assert len(run.warnings) == 3


def test_run_json_integer_beyond_64_bits_is_dropped(tmp_path, write_run):
    run_dir = write_run(tmp_path, "r", {"trainable_params": 5}, [])
    damaged = f'"total_params": 1e300, "trainable_params": {2**70}'
    text = (run_dir / "run.json").read_text().replace('"trainable_params": 5', damaged)
    (run_dir / "run.json").write_text(text)
    run = load_run(run_dir)
    assert run.info is not None and run.info.trainable_params is None
    assert run.info.total_params is None  # a float beyond int64 for an integer field
    assert any("too large" in w for w in run.warnings)


def test_deep_nesting_is_refused_before_parsing():
    assert nesting_depth(DEEP) == 100_000
    assert nesting_depth('{"a": "[[[[[[", "b": [1, {"c": []}]}') == 4
    try:
        parse_json(DEEP)
    except JsonProblem as exc:
        assert "nests deeper" in str(exc)
    else:
        raise AssertionError("a 100,000-deep document parsed")


def test_bench_file_damage_is_a_warning(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "deep.json").write_text(DEEP)
    (bench / "bin.json").write_bytes(b"\x00\xff\xfe" * 100)
    (bench / "huge.json").write_text('{"rows": [{"config": "a", "latency_s": ' + HUGE + "}]}")
    (bench / "odd.json").write_text('[{"config": {"x": 1}}, {"config": "b"}]')
    rows, warnings = load_bench(tmp_path)
    assert rows == [{"config": "a"}, {"config": "b"}]
    assert len(warnings) == 4, warnings


# --------------------------------------------------------------------------- properties

SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.text(max_size=200))
def test_parse_json_raises_only_its_one_sentence(text):
    try:
        parse_json(text)
    except JsonProblem:
        pass


@given(JSON)
def test_parse_json_keeps_what_fits_and_marks_the_rest(value):
    parsed = parse_json(json.dumps(value))

    def same(a, b):
        if isinstance(a, int) and not isinstance(a, bool) and not -INT64 <= a < INT64:
            return repr(b) == "<oversized integer>"
        if isinstance(a, float) and math.isnan(a):
            return isinstance(b, float) and math.isnan(b)
        if isinstance(a, list):
            return len(a) == len(b) and all(map(same, a, b))
        if isinstance(a, dict):
            return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        return a == b

    assert same(value, parsed)


@given(st.integers(min_value=1, max_value=3 * MAX_DEPTH))
def test_depth_bound(depth):
    text = "[" * depth + "]" * depth
    if depth > MAX_DEPTH:
        try:
            parse_json(text)
        except JsonProblem:
            return
        raise AssertionError("too deep, yet parsed")
    assert nesting_depth(text) == depth and parse_json(text) is not None


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(info=JSON, lines=st.lists(JSON | st.binary(max_size=20), max_size=5))
def test_any_run_folder_loads_without_raising(tmp_path_factory, info, lines):
    run_dir = tmp_path_factory.mktemp("run")
    (run_dir / "run.json").write_text(json.dumps(info))
    with (run_dir / "metrics.jsonl").open("wb") as handle:
        for line in lines:
            raw = line if isinstance(line, bytes) else json.dumps(line).encode()
            handle.write(raw.replace(b"\n", b" ") + b"\n")
    run = load_run(run_dir)
    assert all(isinstance(m, dict) for m in run.metrics)
    for line in run.metrics:
        assert isinstance(line.get("split", ""), str)
        for key, value in line.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            assert value is None or key in TEXT_KEYS or number, (key, value)
    read_jsonl(run_dir / "metrics.jsonl", limit=64, warnings=[])  # cut mid-line: still a list

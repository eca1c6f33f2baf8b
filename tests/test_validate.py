"""One configuration check for the app, /transcribe, /compare, Add configuration and the CLI
(``demo.validate``): offered names only, the UI's bounds, adapters matched to their base,
unknown keys refused, each refusal one sentence naming the field (issue 39, item 1)."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard import handlers as h
from demo.cli import main as cli_main
from demo.compare import MAX_CONFIGS
from demo.errors import DemoError
from demo.pipeline import PipelineOptions
from demo.validate import BOUNDS, ConfigError, config_fields, validate_config, validate_configs

WEIGHTS = b"\x00" * 16  # listed, never loaded here


def _adapter_run(root, write_run, run_id: str, model: str) -> str:
    """A run with an adapter folder for ``model``; returns its dropdown label."""
    run = write_run(root, run_id, {"model": model, "method": "lora"}, [])
    (run / "adapter").mkdir()
    config = {"peft_type": "LORA", "base_model_name_or_path": model}
    (run / "adapter" / "adapter_config.json").write_text(json.dumps(config))
    (run / "adapter" / "adapter_model.safetensors").write_bytes(WEIGHTS)
    return f"{run_id} (lora, fp32)"


@pytest.fixture()
def checkpoints(tmp_path, monkeypatch, write_run):
    root = tmp_path / "checkpoints"
    labels = {
        "tiny": _adapter_run(root, write_run, "asr-tiny-lora", "tiny.en"),
        "smollm": _adapter_run(root, write_run, "sum-smollm-lora", "smollm2-135m"),
    }
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(root))
    monkeypatch.delenv("DEMO_ALLOW_DOWNLOADS", raising=False)
    return labels


def _refused(call, *phrases):
    with pytest.raises(DemoError) as raised:
        call()
    message = str(raised.value)
    assert all(p in message for p in phrases), message
    assert "\n" not in message and message.count(". ") == 0, message
    return message


def test_probe_compare_json_cases_are_one_sentence_each(checkpoints, tmp_path):
    def compare(configs):
        return lambda: h.run_compare({"audio": "tests/data/jfk.flac", "configs": configs})

    folder = tmp_path / "cache" / "whisper-tiny.en"  # a server folder, as the model cache is
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    _refused(compare([{"asr": str(folder)}]), "Configuration 1", "for asr")
    _refused(compare([{"summarizer": str(folder)}]), "for summarizer")
    _refused(compare([{"asr": "someone/whisper-x"}]), "asr", "DEMO_ALLOW_DOWNLOADS")
    _refused(compare([{"num_beams": 10}]), "num_beams must be from 1 to 5")
    _refused(compare("tiny.en"), "must be a list")
    _refused(compare({"asr": "tiny.en"}), "must be a list")
    _refused(compare(["tiny.en"]), "Configuration 1 must be an object")
    _refused(compare([{"asr": 123}]), "asr must be text")
    _refused(compare([{"asr": "tiny.en", "colour": "red"}]), "Unknown configuration field 'colour'")
    _refused(compare([{"max_seconds": 5}]), "max_seconds is set by the server")
    _refused(compare([{}] * (MAX_CONFIGS + 1)), f"at most {MAX_CONFIGS}")


def test_add_config_checks_the_adapter_base_and_the_list(checkpoints):
    tiny = checkpoints["tiny"]
    added = h.add_config([], {"asr": "tiny.en", "quant": "full", "asr_adapter": tiny})
    assert added[0]["asr_adapter"] == tiny
    _refused(lambda: h.add_config([], {"asr": "base", "asr_adapter": tiny}), "asr_adapter", "base")
    _refused(lambda: h.add_config("x", {"asr": "tiny.en"}), "must be a list")
    _refused(lambda: h.add_sweep({"a": 1}, {"asr": "tiny.en"}), "must be a list")


def test_transcribe_api_can_pick_a_summarizer_adapter_and_int4(checkpoints):
    import app

    smollm = checkpoints["smollm"]
    fields = validate_config(
        {"summarizer": "smollm2-135m", "summarizer_quant": "int4", "summarizer_adapter": smollm}
    )
    assert fields["summarizer_adapter"].endswith("sum-smollm-lora/adapter")
    demo = app.build_demo()
    widgets = demo.try_inputs
    assert widgets["summarizer_adapter"].preprocess(smollm) == smollm  # no UI-only call first
    assert widgets["summarizer_quant"].preprocess("int4") == "int4"
    # In the browser each list narrows to its base's own on page load and on each change.
    narrowing = [
        dep["targets"] for dep in demo.get_config_file()["dependencies"]
        if len(dep["targets"]) == 2 and dep["targets"][1][1] == "load"
    ]  # fmt: skip
    assert len(narrowing) == 6  # Try it and Compare: Whisper adapter, low-rank, summarizer adapter
    _refused(
        lambda: validate_config({"summarizer": "extractive", "summarizer_quant": "fast-int8"}),
        "summarizer_quant 'fast-int8'",
        "extractive",
    )
    _refused(lambda: validate_config({"summarizer_adapter": smollm}), "summarizer_adapter")


def test_downloads_only_where_the_setting_allows(checkpoints, monkeypatch):
    _refused(lambda: validate_config({"summarizer": "org/model"}), "DEMO_ALLOW_DOWNLOADS")
    monkeypatch.setenv("DEMO_ALLOW_DOWNLOADS", "1")
    assert validate_config({"summarizer": "org/model"})["summarizer"] == "org/model"


def test_cli_refuses_what_the_app_refuses(checkpoints, capsys, jfk_path):
    cases = [
        (["--summarizer-quant", "fast-int8"], "summarizer_quant 'fast-int8'"),
        (["--num-beams", "9"], "num_beams must be from 1 to 5"),
        (["--asr", "org/model"], "DEMO_ALLOW_DOWNLOADS"),
        (["--asr-adapter", "no-such-folder"], "asr_adapter 'no-such-folder'"),
    ]
    for flags, phrase in cases:
        assert cli_main(["run", str(jfk_path), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and phrase in err and "\n" not in err, err


def test_app_widget_bounds_are_the_validators():
    import app

    widgets = app.build_demo().try_inputs
    assert (widgets["num_beams"].minimum, widgets["num_beams"].maximum) == BOUNDS["num_beams"]
    low, high = BOUNDS["summary_sentences"]
    assert (widgets["summary_sentences"].minimum, widgets["summary_sentences"].maximum) == (
        low,
        high,
    )


# --------------------------------------------------------------------------- properties

VALUES = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
NAMES = st.sampled_from(
    ["tiny.en", "base", "extractive", "smollm2-135m", "auto", "full", "int4", "fast-int8", "nf4",
     "none", "cpu", "cuda", "en", "de", "e2e", "cascade", "a/b", "..", "/tmp", "", "newest trained"]
)  # fmt: skip
KEYS = st.sampled_from([*config_fields(), "max_seconds", "colour"])
CONFIGS = st.dictionaries(KEYS, NAMES | VALUES | st.lists(VALUES, max_size=2), max_size=6)


@settings(
    max_examples=300,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(config=CONFIGS)
def test_any_configuration_is_accepted_whole_or_refused_in_one_sentence(checkpoints, config):
    try:
        fields = validate_config(config)
    except ConfigError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600
        return
    assert set(fields) <= set(config_fields())
    for key, (low, high) in BOUNDS.items():
        assert fields.get(key) is None or low <= fields[key] <= high
    try:
        PipelineOptions(**fields)  # what passed is a configuration the pipeline takes
    except DemoError as exc:  # e.g. an English-only model asked for German: still a sentence
        assert "\n" not in str(exc)


@settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(configs=st.one_of(VALUES, st.lists(CONFIGS | VALUES, max_size=8), CONFIGS))
def test_any_configs_value_is_a_list_or_one_sentence(checkpoints, configs):
    try:
        checked = validate_configs(configs, MAX_CONFIGS)
    except ConfigError as exc:
        assert "\n" not in str(exc)
        return
    assert isinstance(checked, list) and len(checked) <= MAX_CONFIGS


CLI_FLAGS = st.sampled_from(
    ["--asr", "--quant", "--summarizer", "--summarizer-quant", "--num-beams", "--language",
     "--summary-words", "--summary-sentences", "--max-seconds", "--asr-adapter", "--device",
     "--pipeline", "--e2e-model", "--compression"]
)  # fmt: skip


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(pairs=st.lists(st.tuples(CLI_FLAGS, NAMES | st.text(max_size=8)), max_size=4))
def test_cli_flags_parse_and_check_or_refuse_in_one_line(checkpoints, pairs):
    import contextlib
    import io

    from demo.cli import build_parser

    argv = ["run", "clip.wav"] + [part for pair in pairs for part in pair]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as stop:
            lines = err.getvalue().splitlines()
            assert stop.code == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
            return
    try:
        fields = validate_config({k: getattr(args, k) for k in config_fields()}, local=True)
        PipelineOptions(**fields, max_seconds=args.max_seconds)
    except (DemoError, ValueError) as exc:
        assert "\n" not in str(exc)


def test_summary_strategies_and_styles_are_checked_like_names(checkpoints):
    smollm = checkpoints["smollm"]
    fields = validate_config(
        {"summarizer": "smollm2-135m+checked", "summarizer_adapter": smollm,
         "summary_style": "key-points"}
    )  # fmt: skip
    assert fields["summarizer"] == "smollm2-135m+checked"  # the adapter fits its model
    assert fields["summary_style"] == "key-points"
    assert validate_config({})["summarizer"] == "auto"
    assert validate_config({"summarizer": "t5-small+checked"})["summarizer"] == "t5-small+checked"
    _refused(lambda: validate_config({"summarizer": "extractive+rewrite"}), "rewrite", "llm")
    _refused(lambda: validate_config({"summarizer": "nope+checked"}), "Unknown summarizer 'nope'")
    _refused(lambda: validate_config({"summary_style": "haiku"}), "summary_style", "key-points")

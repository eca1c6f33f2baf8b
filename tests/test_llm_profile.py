"""bench.llm_profile: where a decode step of the int4 summarizer spends its time, on the real
bundled SmolLM2 and one ACLSum paper; every part of a step is accounted for."""

import json

import pytest

from bench import llm_profile


@pytest.mark.parametrize(
    ("op", "part"),
    [
        ("aten::_weight_int4pack_mm_for_cpu", "int4 matmuls (weights)"),
        ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"),
        ("aten::rms_norm", "norms"),
        ("aten::topk", "fp32 head recheck"),
        ("aten::silu", "rotary, residual and SiLU"),
        ("aten::empty", llm_profile.OTHER),
    ],
)
def test_ops_fall_into_their_part_of_the_step(op, part):
    assert llm_profile.part_of(op) == part


def test_a_profile_accounts_for_every_millisecond_of_a_step(tmp_path):
    llm_profile.main(["--papers", "1", "--threads", "1", "--out", str(tmp_path), "--name", "p"])
    row = json.loads((tmp_path / "p.json").read_text())["rows"][0]
    assert row["mode"] == "int4" and row["threads"] == 1 and row["steps"] > 10
    parts = row["parts_ms"]
    assert parts["int4 matmuls (weights)"] > 0 and parts["attention"] > 0
    # the parts, outside-ops included, add up to the profiled step
    assert sum(parts.values()) == pytest.approx(row["ms_per_step_profiled"], rel=1e-6)
    assert parts[llm_profile.OUTSIDE] >= 0
    # 30 blocks of int4 weights plus the int4 output layer: tens of MB a step, not the 540 MB
    # of fp32 weights
    assert 40 < row["weights_mb_per_step"] < 120
    assert row["gb_per_s"] == pytest.approx(row["weights_mb_per_step"] / row["ms_per_step"])


def test_the_profile_refuses_a_mode_without_the_int4_decoder(capsys):
    with pytest.raises(SystemExit) as exit_info:
        llm_profile.main(["--mode", "full"])
    assert exit_info.value.code == 2
    assert "int4 or int4-bf16" in capsys.readouterr().err

"""The research systems' figures (latent-space compression, low-rank arms, the Q-Former bridge,
speech -> summary), drawn from their benchmark rows and runs."""

import pytest

from results.charts import style


def traces(fig):
    return {trace.name: trace for trace in fig.data}


def is_empty(fig):
    return any(a.text == style.EMPTY_MESSAGE for a in fig.layout.annotations)


def test_research_system_charts_from_their_rows(runs_root, write_run):
    from results.charts import systems
    from results.runs import list_runs

    latent = [{"config": f"bart-base latent {z}", "kind": "latent", "model": "bart-base",
               "variant": "latent", "latent": z, "decoder_params_ratio": z / 900,
               "generate_ratio": 0.5, "train_ratio": 0.4, "weights": "random"}
              for z in (128, 384)]  # fmt: skip
    fig = systems.latent_savings(latent)
    assert "random weights" in fig.layout.title.text
    measured = [t for t in fig.data if t.name == "bart-base"]
    assert len(measured) == 3 and list(measured[0].y) == pytest.approx([128 / 900, 384 / 900])
    assert any(t.name == "bart-base (reported)" for t in fig.data)
    recon = [{"config": "r", "kind": "latent-asr", "model": "tiny.en", "variant": "reconstruction",
              "latent": z, "wer": w, "reconstruction_fvu": f}
             for z, w, f in ((128, 0.5, 0.3), (256, 0.1, 0.05))]  # fmt: skip
    assert list(systems.latent_wer(recon).data[0].y) == pytest.approx([50.0, 10.0])
    pca = [dict(r, variant="pca", wer=r["wer"] / 2) for r in recon]
    lines = {t.name: t for t in systems.latent_wer(recon + pca).data}
    assert list(lines["tiny.en WER, PCA (linear reference)"].y) == pytest.approx([25.0, 5.0])
    narrow = [dict(recon[1], variant="latent", wer=1.05, reconstruction_fvu=None)]
    lines = {t.name: t for t in systems.latent_wer(recon + narrow).data}
    marker = lines["tiny.en WER, decoder rebuilt at the latent (trained)"]
    assert list(marker.x) == [256] and list(marker.y) == pytest.approx([105.0])
    assert is_empty(systems.lowrank_arms(list_runs(runs_root)))  # no low-rank run yet
    write_run(runs_root, "lowrank-tiny", {"model": "tiny.en", "size": "tiny", "system": "lowrank",
              "extra": {"lowrank": {"reduction_pct": 17.2, "orthogonal": True}}},
              [{"step": 4, "epoch": 1.0, "split": "test", "wer": 0.2}])  # fmt: skip
    write_run(runs_root, "lowrank-tiny-emb", {"model": "tiny.en", "size": "tiny",
              "system": "lowrank", "extra": {"lowrank": {"reduction_pct": 17.3,
              "targets": ["proj_out"], "rank_fraction": 0.667}}},
              [{"step": 4, "epoch": 1.0, "split": "test", "wer": 0.184}])  # fmt: skip

    def bars(runs_root) -> dict[str, tuple[float, str]]:  # arm -> (tiny.en WER, hover note)
        (tiny,) = systems.lowrank_arms(list_runs(runs_root)).data  # one trace per model
        assert tiny.name == "tiny.en" and tiny.orientation == "h"
        bars = zip(tiny.y, tiny.x, tiny.customdata, strict=True)  # labels wrapped with <br>
        return {arm.replace("<br>", " "): (x, note) for arm, x, note in bars}

    arms = bars(runs_root)
    fc = arms["low-rank fc1/fc2 at d/4, semi-orthogonal"]  # each factorization its own bar
    assert fc[0] == pytest.approx(20.0) and "17.2% fewer parameters" in fc[1]
    emb = arms["low-rank vocab projection + embedding at 2/3 d, semi-orthogonal"]
    assert emb[0] == pytest.approx(18.4)
    # Another recipe of the same factorization is its own bar, named as the report names it.
    write_run(runs_root, "lowrank-tiny-emb-e6", {"model": "tiny.en", "size": "tiny",
              "system": "lowrank", "extra": {"lowrank": {"reduction_pct": 17.3,
              "targets": ["proj_out"], "rank_fraction": 0.667}},
              "config": {"epochs": 6, "keep_best": "wer"}},
              [{"step": 6, "epoch": 6.0, "split": "test", "wer": 0.17}])  # fmt: skip
    arms = bars(runs_root)
    emb6 = arms[
        "low-rank vocab projection + embedding at 2/3 d, semi-orthogonal, 6 epochs, "
        "best validation WER kept"
    ]
    assert emb6[0] == pytest.approx(17.0) and len(arms) == 3
    notes = [a.text for a in systems.lowrank_arms(list_runs(runs_root)).layout.annotations]
    assert any("−24% parameters" in n and "reported" in n for n in notes)
    bridge = [
        {"num_queries": q, "wer": w, "minilm_similarity": 0.8} for q, w in ((8, 0.9), (32, 0.5))
    ]
    bridge.append({"num_queries": None, "wer": 0.1})
    fig = systems.bridge_wer_vs_queries(bridge)
    assert list(fig.data[0].y) == pytest.approx([90.0, 50.0])
    # eval_bridge --pooled rows: the untrained baseline is its own line, not a bridge.
    bridge += [{"kind": "pooled", "num_queries": q, "wer": w} for q, w in ((8, 2.4), (100, 0.8))]
    bridge[0].update(params=31_500_000, s_per_clip=0.25)  # eval_bridge's cost columns
    lines = traces(systems.bridge_wer_vs_queries(bridge))
    assert list(lines["WER"].y) == pytest.approx([90.0, 50.0])
    assert list(lines["WER, pooled frames, untrained"].x) == [8, 100]
    assert "31.5 M parameters trained" in lines["WER"].customdata[0]
    assert "0.25 s per clip" in lines["WER"].customdata[0] and lines["WER"].customdata[1] == ""
    # The seed's own number, on its own data, marked as reported.
    seed = next(t for name, t in lines.items() if name.endswith("(reported)"))
    assert "LibriSpeech" in seed.name and list(seed.y) == [34.47] and list(seed.x) == [100]


def test_e2e_chart_and_section_put_the_three_systems_side_by_side(tmp_path):
    """Rendering only: hand-written bench.e2e rows (no model runs here; bench.e2e writes the
    real ones), so the numbers below are inputs, not measurements."""
    from bench.env import write_results
    from results.charts import systems
    from results.report_systems import systems_sections

    def row(system, r1, trained):
        return {"config": f"{system} · 2 abstract clips", "kind": "e2e", "system": system,
                "clips": 2, "audio_minutes": 2.5, "rouge1": r1, "rouge2": r1 / 4,
                "rougeL": r1 / 2, "rougeLsum": r1 / 2, "rougeS": r1 / 5,
                "embedding_similarity": 0.5, "s_per_audio_minute": 3.0, "peak_rss_mb": 1500.0,
                "trained_params": trained, "lm_adapter": None, "example": "x"}  # fmt: skip

    rows = [row("oracle", 0.40, 460_000), row("cascade", 0.35, 460_000), row("e2e", 0.20, 9)]
    fig = systems.e2e_vs_cascade([*rows, {"config": "other", "kind": "asr"}])
    bars = traces(fig)
    assert list(bars["ROUGE-1"].y) == pytest.approx([40.0, 35.0, 20.0])
    assert list(bars["ROUGE-1"].x)[2] == "end-to-end (Q-Former -> SmolLM2)"
    assert any("oracle - cascade): +5.0 ROUGE-1" in a.text for a in fig.layout.annotations)
    assert "2 spoken ACLSum abstracts" in fig.layout.title.text
    assert systems.e2e_vs_cascade([]).layout.title.text.startswith("Speech -> summary")

    write_results(tmp_path, "e2e", {"command": "python -m bench.e2e", "split": "test",
                                    "clips": "abstracts.jsonl"}, rows)  # fmt: skip
    text = "\n".join(systems_sections(tmp_path, runs_root=tmp_path))
    assert "| e2e | 20.0 | 5.0 | 10.0 | 10.0 | 4.0 | 50.0 | 3.0 | 1500 | 9 |" in text
    assert "Error propagation (oracle - cascade): +5.0 ROUGE-1 points, +2.5 ROUGE-L points." in text
    assert "End-to-end - cascade: -15.0 ROUGE-1 points, -7.5 ROUGE-L points." in text
    # an earlier model's run over fewer clips comes after, and the chart keeps the larger one
    small = [{**r, "clips": 1, "rouge1": 0.9} for r in rows]
    write_results(tmp_path, "e2e-old", {"command": "python -m bench.e2e --max-clips 1"}, small)
    text = "\n".join(systems_sections(tmp_path, runs_root=tmp_path))
    assert text.count("## Speech -> summary") == 1
    assert text.index("| e2e | 20.0 |") < text.index("--max-clips 1") < text.index("| e2e | 90.0 |")
    larger = systems.e2e_vs_cascade([*rows, *small])
    assert list(traces(larger)["ROUGE-1"].y) == pytest.approx([40.0, 35.0, 20.0])

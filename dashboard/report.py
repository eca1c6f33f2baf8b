"""The defense report: the dashboard's evidence in one self-contained HTML file that opens in a
browser with no network (plotly.js inlined once, no link or image outside the file).

    python -m dashboard.report --out defense.html
    python -m dashboard.report --out defense.html --png-dir slides/   # + a PNG per chart

It holds where the numbers come from (date, git commit, machine, versions), the findings, every
chart of the Training runs and Reported vs measured views (interactive: hover, zoom, and the
camera button saves a PNG for a slide), each with the command that makes its data, the thesis's
reference tables and the benchmark tables of ``assets/benchmarks.md``. The Try it and Compare
views chart a run made in the app, not files, so they are not in it. The app's Training runs
tab has a button that writes the same file.
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Mapping
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from markdown_it import MarkdownIt
from plotly.offline import get_plotlyjs

from dashboard.reported_view import findings_text, reference_tables, reported_figures
from dashboard.training_view import RunSet, load_run_set, training_figures
from demo.errors import DemoError
from demo.provenance import ROOT, git_commit, machine, now_iso, output_folder, versions
from results.charts.catalog import FIGURE_COMMANDS
from results.charts.export import save_figures

BENCHMARKS = ROOT / "assets" / "benchmarks.md"
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 2em auto; padding: 0 1em;
       color: #1f2328; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.86em; }
th, td { border: 1px solid #d0d7de; padding: 3px 7px; text-align: left; vertical-align: top; }
code { background: #f6f8fa; padding: 0 3px; border-radius: 3px; }
.chart { margin: 1.5em 0 2.5em; } .command { font-size: 0.9em; color: #57606a; }
nav a { margin-right: 1em; }
"""
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")  # benchmarks.md's PNG links: files, not inlined


def _markdown(text: str) -> str:
    """Markdown (tables included) as HTML; raw HTML in it is escaped, images left out."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(_IMAGE.sub("", text))


def report_sections(run_set: RunSet, template: str = "plotly_white") -> dict[str, dict]:
    """Section title -> {figure key: figure}, in the report's order."""
    runs, rows = run_set.runs, run_set.bench_rows
    return {
        "Training runs": training_figures(runs, rows, template=template, show_reported=True),
        "Reported vs measured": reported_figures(runs, rows, template=template),
    }


def _chart(key: str, fig: go.Figure) -> str:
    title = fig.layout.title.text or key
    div = pio.to_html(
        fig, include_plotlyjs=False, full_html=False, div_id=f"chart-{key}",
        config={"displaylogo": False, "responsive": True,
                "toImageButtonOptions": {"format": "png", "scale": 2, "filename": key}},
    )  # fmt: skip
    command = FIGURE_COMMANDS.get(key, "see docs/reproduce.md")
    return (
        f'<section class="chart" id="{key}"><h3>{html.escape(title)}</h3>{div}'
        f'<p class="command">Reproduce: <code>{html.escape(command)}</code>, then reload the '
        "app or rerun <code>python -m dashboard.report</code>.</p></section>"
    )


def _provenance(run_set: RunSet) -> str:
    m = machine()
    found = ", ".join(f"{k} {v}" for k, v in versions().items() if v)
    rows = [
        ("Written", now_iso()), ("Git commit", git_commit() or "not a git checkout"),
        ("Machine", f"{m.get('cpu')}, {m.get('cores')} logical cores, {m.get('memory_gb')} GB "
                    f"RAM; {m.get('os')}, Python {m.get('python')}"),
        ("Versions", found), ("Runs read", f"{len(run_set.runs)} runs and "
                                           f"{len(run_set.bench_rows)} benchmark rows under "
                                           f"{run_set.root.name}/"),
    ]  # fmt: skip
    cells = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def build_report(run_set: RunSet | None = None, template: str = "plotly_white") -> str:
    """The whole report as one HTML string."""
    run_set = run_set or load_run_set()
    sections = report_sections(run_set, template)
    nav = ['<a href="#findings">Findings</a>']
    nav += [f'<a href="#{_slug(t)}">{t}</a>' for t in sections]
    nav += ['<a href="#reference">Thesis tables</a>', '<a href="#benchmarks">Benchmarks</a>']
    body = [
        "<h1>Speech-to-summary: the measured evidence</h1>",
        "<p>Every number below comes from the run and benchmark files named with each chart; "
        "where our data differ from the thesis's or a paper's, charts give ratios and name "
        "both datasets.</p>",
        _provenance(run_set), f"<nav>{''.join(nav)}</nav>",
        '<h2 id="findings">Findings</h2>', _markdown(findings_text(run_set.runs)),
    ]  # fmt: skip
    if run_set.warnings:
        items = "".join(f"<li>{html.escape(w)}</li>" for w in run_set.warnings)
        body.append(f"<p>Files that could not be read (left out):</p><ul>{items}</ul>")
    for title, figures in sections.items():
        body.append(f'<h2 id="{_slug(title)}">{html.escape(title)}</h2>')
        body += [_chart(key, fig) for key, fig in figures.items()]
    body.append('<h2 id="reference">The thesis\'s tables (reported)</h2>')
    for title, frame in reference_tables().items():
        body.append(f"<h3>{html.escape(title)}</h3>" + frame.to_html(index=False, border=0))
    body.append('<h2 id="benchmarks">Benchmarks (assets/benchmarks.md)</h2>')
    missing = "<p>No benchmarks.md yet: run <code>python -m results.report</code>.</p>"
    body.append(_markdown(BENCHMARKS.read_text("utf-8")) if BENCHMARKS.is_file() else missing)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        "<title>Speech-to-summary: defense report</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(body)}</body></html>"
    )


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def write_report(
    out: str | Path, run_set: RunSet | None = None, png_dir: str | Path | None = None
) -> Path:
    """Write the report to ``out`` (and with ``png_dir`` a PNG per chart, through kaleido)."""
    target = Path(out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise DemoError(f"The report is an HTML file: give --out a name ending in .html, not "
                        f"{target.name!r}.")  # fmt: skip
    try:
        output_folder(target.parent, "--out")
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    run_set = run_set or load_run_set()
    target.write_text(build_report(run_set), encoding="utf-8")
    if png_dir is not None:
        figures: Mapping[str, go.Figure] = {
            key: fig for figures in report_sections(run_set).values()
            for key, fig in figures.items()
        }  # fmt: skip
        save_figures(figures, png_dir, (".png",))
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="defense.html", help="the HTML file written")
    parser.add_argument("--png-dir", default=None, help="also a PNG per chart here (kaleido)")
    parser.add_argument("--checkpoints", default=None, help="runs folder (DEMO_CHECKPOINTS)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.out, load_run_set(args.checkpoints), args.png_dir)
    except DemoError as exc:
        parser.exit(2, f"{exc}\n")
    print(f"written: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

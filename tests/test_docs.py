"""The user guide and the reproduce page stay true to the tree: the README opens with the two
commands and stays short, every benchmark table and result file has its line in
docs/reproduce.md, and every command the docs name is a module that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REPRODUCE = ROOT / "docs" / "reproduce.md"
MAX_README_LINES = 200


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES
    fence = lines.index("```bash")
    assert [line.split()[:2] for line in lines[fence + 1 : fence + 3]] == [
        ["make", "run"],
        ["make", "test"],
    ]
    assert fence < 5  # right under the title


def test_every_benchmark_table_and_result_file_is_on_the_reproduce_page():
    page = REPRODUCE.read_text(encoding="utf-8")
    report = (ROOT / "assets" / "benchmarks.md").read_text(encoding="utf-8")
    for heading in re.findall(r"^## (.+)$", report, flags=re.M):
        title = re.sub(r" \([^)]*\)$", "", heading.split(":")[0])
        assert title in page, f"benchmarks.md section {heading!r} has no line in reproduce.md"
    for result in sorted((ROOT / "checkpoints" / "bench").glob("*.json")):
        assert result.name in page, f"{result.name} is not on the reproduce page"


def test_every_command_in_the_docs_is_a_module_that_exists():
    docs = [README, *sorted((ROOT / "docs").rglob("*.md"))]
    for doc in docs:
        for module in re.findall(r"python -m ([\w.]+)", doc.read_text(encoding="utf-8")):
            path = ROOT / module.replace(".", "/")
            exists = path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()
            assert exists, f"{doc.name} names python -m {module}, which does not exist"


def test_the_chart_tables_are_the_ones_the_catalog_writes():
    """docs/reproduce.md's two chart tables come from results/charts/catalog.py (run
    ``python -m results.charts.catalog`` and paste them when a chart changes)."""
    from results.charts.catalog import REPORTED_VIEW, TRAINING_VIEW, markdown

    page = REPRODUCE.read_text(encoding="utf-8")
    for view in (TRAINING_VIEW, REPORTED_VIEW):
        assert "\n".join(markdown(view)) in page

"""Save charts for slides: self-contained HTML (offline), PNG/SVG/PDF through kaleido."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from demo.errors import DemoError, unknown_choice
from results.charts.style import EXPORT_HEIGHT, EXPORT_WIDTH


def figure_to_html(fig: go.Figure) -> str:
    """A self-contained HTML page for ``fig`` with plotly.js inlined, so it works offline."""
    return fig.to_html(
        include_plotlyjs=True,
        full_html=True,
        include_mathjax=False,
        config={"displaylogo": False, "responsive": True},
    )


def save_figure(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` by suffix: .html always; .png/.svg/.pdf need kaleido (else ``DemoError``)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in _WRITERS:
        raise unknown_choice("figure format", suffix or target.name, list(_WRITERS))
    target.parent.mkdir(parents=True, exist_ok=True)
    _WRITERS[suffix](fig, target)
    return target


def save_figures(
    figures: Mapping[str, go.Figure],
    folder: str | Path,
    suffixes: Iterable[str] = (".html",),
) -> list[Path]:
    """Write each figure as ``folder/<name><suffix>``; returns the paths written.

    HTML files are written first; images (.png/.svg/.pdf) go to kaleido in one batch, which
    starts its browser once instead of once per image. Raises ``DemoError`` when images are
    asked for and kaleido is missing or fails (the HTML files are written by then).
    """
    suffixes = [s.lower() for s in suffixes]
    for suffix in suffixes:
        if suffix not in _WRITERS:
            raise unknown_choice("figure format", suffix, list(_WRITERS))
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    stems = {
        name: re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "chart" for name in figures
    }
    written = []
    if ".html" in suffixes:
        for name, fig in figures.items():
            path = target / f"{stems[name]}.html"
            _write_html(fig, path)
            written.append(path)
    images = [
        (fig, target / f"{stems[name]}{suffix}")
        for suffix in suffixes
        if suffix != ".html"
        for name, fig in figures.items()
    ]
    if not images:
        return written
    if not _has_kaleido():
        raise DemoError("Saving PNG/SVG images needs the kaleido package; the HTML files work.")
    try:
        pio.write_images(
            [fig for fig, _ in images],
            [path for _, path in images],
            width=EXPORT_WIDTH,
            height=EXPORT_HEIGHT,
            scale=2,
        )
    except Exception as exc:  # kaleido and its browser fail in many ways
        raise DemoError(
            f"Couldn't export images with kaleido ({exc}); use the HTML files."
        ) from exc
    return written + [path for _, path in images]


def _write_html(fig: go.Figure, target: Path) -> None:
    target.write_text(figure_to_html(fig), encoding="utf-8")


def _write_image(fig: go.Figure, target: Path) -> None:
    if not _has_kaleido():
        raise DemoError(
            f"Saving {target.suffix} images needs the kaleido package; save as .html instead "
            "or install kaleido."
        )
    try:
        fig.write_image(target, width=EXPORT_WIDTH, height=EXPORT_HEIGHT, scale=2)
    except (RuntimeError, ValueError, OSError) as exc:
        raise DemoError(f"Couldn't export {target.name} with kaleido ({exc}); use .html.") from exc


def _has_kaleido() -> bool:
    return importlib.util.find_spec("kaleido") is not None


_WRITERS: dict[str, Callable[[go.Figure, Path], None]] = {
    ".html": _write_html,
    ".png": _write_image,
    ".svg": _write_image,
    ".pdf": _write_image,
}


IMAGE_SUFFIXES = (".png", ".svg")


def export_figures(
    figures: Mapping[str, go.Figure], folder: str | Path, *, images: bool = True
) -> tuple[list[Path], str]:
    """Save figures for slides: HTML always (works offline), PNG and SVG when kaleido can.

    Returns the files written and a note for the user ("" when everything was saved).
    """
    paths = save_figures(figures, folder, (".html",))
    if not images:
        return paths, ""
    try:
        paths += save_figures(figures, folder, IMAGE_SUFFIXES)
    except DemoError as exc:
        return paths, f"Saved interactive HTML only: {exc}"
    return paths, ""

"""Slide style shared by every chart: templates, fonts, colours, reported-number markers.

Figures are styled for a 1280x720 slide in a light (``"plotly_white"``) or dark
(``"plotly_dark"``) template. Numbers from papers are drawn as separate traces named
"... (reported)", hollow or hatched, never merged with measured ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go

from demo.asr.registry import SIZES
from demo.errors import unknown_choice
from demo.runinfo import QUANTIZED_PRECISIONS

THEMES = ("plotly_white", "plotly_dark")
# The app's light/dark switch -> plotly template.
APP_THEMES = {"light": "plotly_white", "dark": "plotly_dark"}
FONT_SIZE = 18
TITLE_FONT_SIZE = 26
AXIS_TITLE_FONT_SIZE = 20
FIGURE_HEIGHT = 640
EXPORT_WIDTH = 1280
EXPORT_HEIGHT = 720
EMPTY_MESSAGE = "No runs yet"
REPORTED_SUFFIX = " (reported)"
REPORTED_EXTRA = "<extra>reported</extra>"
# Okabe-Ito based: tells colours apart for colour-blind viewers, readable on white and black.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#F0E442",
    "#999999",
    "#8C564B",
    "#17BECF",
)
REFERENCE_COLOR = "#999999"  # reported lines with no measured counterpart
SIZE_ORDER = SIZES
MODE_ORDER = (
    "full",
    "lora",
    "adalora",
    "int8",
    "nf4",
    "int8+lora",
    "int8+adalora",
    "nf4+lora",
    "nf4+adalora",
)
PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8", "nf4")
METHOD_ORDER = ("full", "lora", "adalora")
FAMILY_LABELS = {
    "t5": "T5",
    "bart": "BART",
    "mbart": "mBART",
    "smollm2": "SmolLM2",
    "qwen2.5": "Qwen2.5",
    "llama-3.2": "Llama-3.2",
}


def style_figure(
    fig: go.Figure,
    title: str,
    template: str,
    x_title: str,
    y_title: str,
    *,
    barmode: str | None = None,
) -> None:
    fig.update_layout(
        template=template,
        height=FIGURE_HEIGHT,
        font={"size": FONT_SIZE},
        title={"text": title, "font": {"size": TITLE_FONT_SIZE}, "x": 0.02, "xanchor": "left"},
        legend={"font": {"size": FONT_SIZE}, "groupclick": "toggleitem"},
        hoverlabel={"font": {"size": FONT_SIZE - 2}},
        margin={"l": 90, "r": 30, "t": 90, "b": 80},
        uniformtext={"minsize": FONT_SIZE - 6, "mode": "hide"},
    )
    if barmode:
        fig.update_layout(barmode=barmode)
    for trace in fig.data:
        # Plotly prints a bar's text template even where y is missing ("0.0" under no bar).
        if isinstance(trace, go.Bar) and isinstance(trace.texttemplate, str) and trace.y:
            template_text = trace.texttemplate
            trace.texttemplate = ["" if num(y) is None else template_text for y in trace.y]
    fig.update_xaxes(title={"text": x_title, "font": {"size": AXIS_TITLE_FONT_SIZE}})
    fig.update_yaxes(title={"text": y_title, "font": {"size": AXIS_TITLE_FONT_SIZE}})


def empty_figure(title: str, template: str) -> go.Figure:
    fig = go.Figure()
    style_figure(fig, title, template, "", "")
    fig.add_annotation(
        text=EMPTY_MESSAGE,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": TITLE_FONT_SIZE},
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def check_template(template: str) -> None:
    if template not in THEMES:
        raise unknown_choice("chart template", template, list(THEMES))


def reported_marker(color: str) -> dict[str, Any]:
    return {
        "symbol": "diamond-open",
        "size": 18,
        "color": color,
        "line": {"width": 3, "color": color},
    }


def reported_bar_marker(color: str) -> dict[str, Any]:
    # Hatched and hollow, so reported bars read as different even in grayscale.
    return {
        "color": "rgba(0,0,0,0)",
        "line": {"color": color, "width": 2},
        "pattern": {"shape": "/", "fgcolor": color, "size": 8, "solidity": 0.3},
    }


def pretty_mode(mode: str) -> str:
    """Mode label for legends: "int8+adalora" -> "int8+AdaLoRA", "lowrank:full" ->
    "low-rank: full"."""
    names = {"lora": "LoRA", "adalora": "AdaLoRA", "lowrank": "low-rank", "qformer": "Q-Former"}
    system, _, mode = mode.rpartition(":")
    label = "+".join(names.get(part, part) for part in mode.split("+"))
    return f"{names.get(system, system)}: {label}" if system else label


def family_label(family: str) -> str:
    return FAMILY_LABELS.get(family.lower(), family)


def quantization_of(mode: str) -> str:
    head = mode.split("+")[0]
    return head if head in QUANTIZED_PRECISIONS else "full"


def size_family(size: str) -> str:
    lowered = size.lower()
    return next((s for s in SIZE_ORDER if lowered.startswith(s)), lowered)


def order_index(value: str | None, order: tuple[str, ...]) -> int:
    return order.index(value) if value in order else len(order)


def ordered(values: set[str], order: tuple[str, ...], key: Callable[[str], str] = str) -> list[str]:
    return sorted(values, key=lambda v: (order_index(key(v), order), v))


def colors_for(keys: list[str], order: tuple[str, ...]) -> dict[str, str]:
    """Stable colours: a key gets its slot in ``order``, so tiny is the same blue everywhere."""
    extra = [k for k in keys if k not in order]
    return {
        k: PALETTE[(order.index(k) if k in order else len(order) + extra.index(k)) % len(PALETTE)]
        for k in keys
    }


def cycle_colors(count: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(count)]


def num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def scaled(value: Any, factor: float = 100.0) -> float | None:
    number = num(value)
    return None if number is None else number * factor


def rounded(value: Any, digits: int) -> float | None:
    number = num(value)
    return None if number is None else round(number, digits)


def chart_template(theme: str) -> str:
    """Plotly template for the app theme ("light"/"dark")."""
    return APP_THEMES.get(theme, APP_THEMES["light"])


def measured_bar(x, y, name: str, color: str, hover: str, *, group: str | None = None,
                 customdata=None, fmt: str = ".1f") -> go.Bar:  # fmt: skip
    """A solid bar trace of measured values (``hover`` is a plotly hovertemplate)."""
    return go.Bar(
        x=x, y=y, name=name, legendgroup=group or name, offsetgroup=group or name,
        marker={"color": color}, customdata=customdata, texttemplate=f"%{{y:{fmt}}}",
        textposition="outside", hovertemplate=hover + "<extra></extra>",
    )  # fmt: skip


def reported_bar(x, y, name: str, color: str, hover: str, *, group: str | None = None,
                 fmt: str = ".1f") -> go.Bar:  # fmt: skip
    """A hatched bar trace of published values, named "<name> (reported)"."""
    key = group or name
    return go.Bar(
        x=x, y=y, name=name + REPORTED_SUFFIX, legendgroup=key,
        offsetgroup=key + REPORTED_SUFFIX, marker=reported_bar_marker(color),
        texttemplate=f"%{{y:{fmt}}}", textposition="outside", hovertemplate=hover + REPORTED_EXTRA,
    )  # fmt: skip


def error_bars(bars: list, values: list[float]) -> dict:
    """Plotly's asymmetric ``error_y`` from a (low, high) interval per value (demo.intervals);
    hidden when no value has one, zero-length where one is None."""
    above = [b[1] - v if b else 0 for b, v in zip(bars, values, strict=True)]
    below = [v - b[0] if b else 0 for b, v in zip(bars, values, strict=True)]
    return {"type": "data", "symmetric": False, "visible": any(bars), "array": above,
            "arrayminus": below}  # fmt: skip

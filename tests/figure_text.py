"""Readable figures: `overlapping_text` draws a figure and lists the pairs of its visible texts that
overlap, or that run off the figure. The tests use it to check that the figures of zsc.plots stay
readable at the study's size (26 datasets, 18 encoders, 6 clusterers)."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from zsc.plots import STYLE, _layout_restored


def _axis_texts(axis) -> list[Text]:
    if not axis.get_visible():
        return []
    try:
        ticks = axis._update_ticks()  # the ticks that are drawn (inside the view limits)
    except Exception:  # pragma: no cover - private API moved: all ticks
        ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    texts = []
    for tick in ticks:
        if not tick.get_visible():
            continue
        texts += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    texts.append(axis.label)
    texts.append(axis.get_offset_text())
    return texts


def _legend_texts(legend) -> list[Text]:
    if legend is None or not legend.get_visible():
        return []
    return [*legend.get_texts(), legend.get_title()]


def _axes_texts(ax) -> list[Text]:
    if not ax.get_visible():
        return []
    texts = [ax.title, getattr(ax, "_left_title", None), getattr(ax, "_right_title", None)]
    if ax.axison:
        texts += _axis_texts(ax.xaxis) + _axis_texts(ax.yaxis)
    texts += list(ax.texts)
    texts += _legend_texts(ax.get_legend())
    for child in getattr(ax, "child_axes", []):
        texts += _axes_texts(child)
    return [t for t in texts if t is not None]


def _figure_texts(fig) -> list[Text]:
    texts = list(fig.texts)
    for name in ("_suptitle", "_supxlabel", "_supylabel"):
        if getattr(fig, name, None) is not None and getattr(fig, name) not in texts:
            texts.append(getattr(fig, name))
    for legend in fig.legends:
        texts += _legend_texts(legend)
    for ax in fig.axes:
        texts += _axes_texts(ax)
    for sub in getattr(fig, "subfigs", []):
        texts += _figure_texts(sub)
    return texts


OUTSIDE = "<outside the figure>"


def overlapping_text(fig: Figure, *, tolerance: float = 0.5) -> list[tuple[str, str]]:
    """Draw `fig` and return the pairs of visible, non-empty texts whose boxes overlap on the canvas.

    Tick labels (drawn ones), axis labels, titles, annotations and texts, legend entries and titles,
    the figure's own texts: any two of these whose window extents overlap by more than `tolerance`
    pixels in both directions, as (text, text). A text reaching past the figure's edge (cut off in
    the saved file) is reported as (text, OUTSIDE). An empty list means every text is readable.
    """
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with matplotlib.rc_context(STYLE), _layout_restored(fig):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        texts, boxes, seen = [], [], set()
        for text in _figure_texts(fig):
            if id(text) in seen or not text.get_visible() or not text.get_text().strip():
                continue
            seen.add(id(text))
            box = text.get_window_extent(renderer)
            if box.width <= 0 or box.height <= 0 or not np.all(np.isfinite(box.extents)):
                continue
            texts.append(text)
            boxes.append(box.extents)
        width, height = fig.bbox.width, fig.bbox.height
    if not boxes:
        return []
    b = np.asarray(boxes)
    x0, y0, x1, y1 = (b[:, k] for k in range(4))
    dx = np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])
    dy = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
    hits = np.argwhere(np.triu((dx > tolerance) & (dy > tolerance), k=1))
    pairs = [(texts[i].get_text(), texts[j].get_text()) for i, j in hits]
    outside = (x0 < -tolerance) | (y0 < -tolerance) | (x1 > width + tolerance) | (y1 > height + tolerance)
    pairs += [(texts[i].get_text(), OUTSIDE) for i in np.flatnonzero(outside)]
    return pairs

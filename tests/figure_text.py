"""Readable figures: `overlapping_text` draws a figure and lists the pairs of its visible texts that
overlap, or that run off the figure; `check_figure` lists everything that keeps a figure from a
paper's page: larger than 7.2 x 8 in, texts that overlap or leave the figure, a config key shown
where its display name belongs (zsc.outputs.display_keys), legend entries drawn alike. The tests
apply them to the figures of zsc.plots at the study's size (26 datasets, 18 encoders, 6 clusterers)
and of the default run."""

from __future__ import annotations

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from zsc.plots import FULL_WIDTH, MAX_HEIGHT, STYLE, _layout_restored


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


def _drawn_texts(fig, renderer) -> tuple[list[Text], list]:
    """The visible, non-empty texts of a drawn figure with their window extents."""
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
    return texts, boxes


def overlapping_text(fig: Figure, *, tolerance: float = 0.5) -> list[tuple[str, str]]:
    """Draw `fig` and return the pairs of visible, non-empty texts whose boxes overlap on the canvas.

    Tick labels (drawn ones), axis labels, titles, annotations and texts, legend entries and titles,
    the figure's own texts: any two of these whose window extents overlap by more than `tolerance`
    pixels in both directions, as (text, text). A text reaching past the figure's edge (cut off in
    the saved file) is reported as (text, OUTSIDE). An empty list means every text is readable.
    """
    return _overlaps(*_draw(fig), tolerance=tolerance)


def _draw(fig: Figure) -> tuple[list[Text], list, float, float]:
    """Draw `fig` as it is saved: its visible texts, their window extents, and its size in pixels."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    with matplotlib.rc_context(STYLE), _layout_restored(fig):
        fig.canvas.draw()
        texts, boxes = _drawn_texts(fig, fig.canvas.get_renderer())
        return texts, boxes, fig.bbox.width, fig.bbox.height


def _overlaps(texts, boxes, width, height, *, tolerance: float) -> list[tuple[str, str]]:
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


# --- the checks every figure passes (tests/test_outputs.py applies them to every output) ---------------


def _style_of(handle) -> tuple:
    """How a legend handle is drawn: (edge or line colour, face colour, marker, line style and width)."""
    from matplotlib.collections import Collection
    from matplotlib.colors import to_hex

    def hex_of(colour):
        try:
            return to_hex(colour, keep_alpha=False)
        except (TypeError, ValueError):
            return "none"

    def none_if_blank(value):
        return "none" if value in (None, "", " ", "None", "none") else str(value)

    if isinstance(handle, Line2D):
        face = handle.get_markerfacecolor() if none_if_blank(handle.get_marker()) != "none" else None
        style = none_if_blank(handle.get_linestyle())
        if style == "--":  # every dash pattern reads "--": tell them apart by the pattern itself
            style = str(handle._unscaled_dash_pattern)
        width = round(float(handle.get_linewidth()), 1) if style != "none" else 0.0
        return (hex_of(handle.get_color()), hex_of(face) if face is not None else "none", none_if_blank(handle.get_marker()),
                style, width)  # fmt: skip
    if isinstance(handle, Patch):
        return (hex_of(handle.get_edgecolor()), hex_of(handle.get_facecolor()), "patch", none_if_blank(handle.get_hatch()), 0.0)
    if isinstance(handle, Collection):
        faces, edges = handle.get_facecolor(), handle.get_edgecolor()
        return (hex_of(edges[0]) if len(edges) else "none", hex_of(faces[0]) if len(faces) else "none", "collection", "none", 0.0)
    return (type(handle).__name__, "", "", "", 0.0)


def legend_clashes(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of entries of one legend (of the figure or of any axes) drawn alike: the same colours, marker
    and line (style and width), which a reader cannot tell apart."""
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    pairs = []
    for legend in legends:
        entries = list(zip(legend.legend_handles, [t.get_text() for t in legend.get_texts()]))
        styles = [_style_of(handle) for handle, _ in entries]
        for i, j in zip(*np.triu_indices(len(entries), k=1)):
            if styles[i] == styles[j]:
                pairs.append((entries[i][1], entries[j][1]))
    return pairs


def visible_texts(fig: Figure) -> list[str]:
    """Every text a reader sees once `fig` is drawn (tick labels, labels, titles, notes, legends)."""
    return [t.get_text() for t in _draw(fig)[0]]


def shown_keys(fig: Figure, keys, texts: list[str] | None = None) -> list[str]:
    """The config keys among `keys` (those with a display name of their own) that `fig` shows as a text,
    a line of one, or a part of one between "/", ",", ":" and brackets (`texts`: its visible texts,
    when already drawn)."""
    import re

    keys = set(keys)
    found = []
    for text in visible_texts(fig) if texts is None else texts:
        for line in text.splitlines():
            parts = {line.strip(), *(p.strip() for p in re.split(r"[/,:()]", line))}
            found += sorted(parts & keys)
    return list(dict.fromkeys(found))


def check_figure(fig: Figure, keys=()) -> list[str]:
    """What keeps `fig` from a paper's page, in words ([] when nothing): larger than FULL_WIDTH x
    MAX_HEIGHT inches; texts that overlap or leave the figure; a config key among `keys` shown where
    its display name belongs (zsc.outputs.display_keys); legend entries drawn alike."""
    width, height = fig.get_size_inches()
    problems = []
    if width > FULL_WIDTH + 1e-6 or height > MAX_HEIGHT + 1e-6:
        problems.append(f"{width:.2f} x {height:.2f} in: larger than a page's {FULL_WIDTH} x {MAX_HEIGHT} in")
    texts, boxes, width_px, height_px = _draw(fig)  # drawn once for both text checks
    problems += [f"texts overlap: {a!r} and {b!r}" for a, b in _overlaps(texts, boxes, width_px, height_px, tolerance=0.5)]
    problems += [f"config key shown: {key!r}" for key in shown_keys(fig, keys, [t.get_text() for t in texts])]
    problems += [f"legend entries drawn alike: {a!r} and {b!r}" for a, b in legend_clashes(fig)]
    return problems

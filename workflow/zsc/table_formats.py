"""Tables written four ways from one DataFrame: CSV (numbers), Markdown, LaTeX and HTML (styled).

`write_table(frame, stem)` writes stem.csv, stem.md, stem.tex and stem.html:

- **csv**: plain numbers at full precision, MultiIndex columns flattened to "group / column", the
  index as leading columns, NaN as an empty field.
- **md**: `DataFrame.to_markdown` of the values rounded to `digits`, the caption above and the notes
  as bullet lines below.
- **tex**: `Styler.to_latex` with booktabs rules, MultiIndex columns as grouped `\\multicolumn`
  headers, per column the best value in `\\textbf` and the second best in `\\underline`, cells shaded
  (`\\cellcolor`, needs `\\usepackage[table]{xcolor}`) and the notes in a footnote-sized block after
  the tabular.
- **html**: `Styler.to_html`, self-contained (inline `<style>`, no scripts), the same marks as CSS
  (font-weight / text-decoration / background-color), the caption and the notes as a `<ul>`.

Best and second best are judged on the values as shown (rounded to `digits`), so tied numbers in
the table carry the same mark. Shading is single-hue (white to mid blue, colour-blind safe): white at
the column median and below, full colour at the column's best (its maximum; its minimum when
`best="min"`). With `colour=` another frame of the same shape colours the cells instead, on a
diverging purple-orange map centred at 0 with symmetric limits (e.g. log10(predicted/true number
of clusters)). A frame with any text column is descriptive (e.g. hyper-parameters): its cells are
shown as they are, without marks or shading (`colour=` still applies). NaN shows as an
en dash. The same frame always gives the same bytes: no timestamps, a fixed Styler uuid.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

DASH = "\u2013"  # en dash for missing values
SHADE_FULL = (0x6B, 0xAE, 0xD6)  # matplotlib "Blues" at 0.5: the full colour of the sequential shading
DIVERGING_CMAP = "PuOr"  # colour-blind-safe diverging map for `colour=`
DIVERGING_STRENGTH = 0.6  # blend with white so that black text stays readable on the extremes
DIVERGING_RANGE = 0.8  # and stop short of the darkest ends of the map (contrast with black text >= 6:1)
WIDE_TABLE_COLUMNS = 12  # wider LaTeX tables are scaled to the line width

_CSS = [
    {"selector": "", "props": "border-collapse: collapse; font-family: Helvetica, Arial, sans-serif; font-size: 11px;"},
    {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold; padding: 4px 0;"},
    {"selector": "th", "props": "padding: 2px 6px; text-align: center; border-bottom: 1px solid #999; white-space: nowrap;"},
    {"selector": "th.row_heading", "props": "text-align: left; border-bottom: none; font-weight: normal;"},
    {"selector": "th.index_name", "props": "text-align: left;"},
    {"selector": "td", "props": "padding: 2px 6px; text-align: right; white-space: nowrap;"},
    {"selector": "tbody tr:last-child td, tbody tr:last-child th", "props": "border-bottom: 1px solid #333;"},
    {"selector": "thead tr:first-child th", "props": "border-top: 1px solid #333;"},
]
_PAGE_CSS = (
    "body { font-family: Helvetica, Arial, sans-serif; font-size: 11px; margin: 1em; } "
    "ul.notes { font-size: 10px; color: #333; padding-left: 1.5em; margin-top: 0.5em; }"
)


def write_table(
    frame: pd.DataFrame,
    stem: str | os.PathLike,
    *,
    best: str | None = "max",
    shade: bool = True,
    colour: pd.DataFrame | None = None,
    notes: Sequence[str] = (),
    digits: int = 0,
    caption: str = "",
) -> list[Path]:
    """Write stem.csv, stem.md, stem.tex and stem.html for `frame`; return the four paths."""
    if best not in ("max", "min", None):
        raise ValueError(f"best must be 'max', 'min' or None, not {best!r}")
    if colour is not None:
        colour = _aligned(colour, frame)
    notes = [str(note) for note in notes]
    numeric = [_is_numeric(frame.iloc[:, j]) for j in range(frame.shape[1])]
    text = _display_text(frame, numeric, digits)
    if not all(numeric):  # a descriptive table (hyper-parameters, datasets): no best marks, no shading
        best, shade = None, False
    marks = _marks(frame, numeric, digits, best)
    fills = _fills(frame, numeric, best, shade, colour)

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    outputs = {
        ".csv": _csv(frame),
        ".md": _markdown(frame, text, notes, caption),
        ".tex": _latex(frame, text, marks, fills, notes, caption),
        ".html": _html(frame, text, marks, fills, notes, caption),
    }
    paths = []
    for suffix, content in outputs.items():
        path = stem.with_name(stem.name + suffix)
        _write_text(path, content)
        paths.append(path)
    return paths


# --- cell contents ---------------------------------------------------------------------------------


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype)


def _is_integer(column: pd.Series) -> bool:
    return pd.api.types.is_integer_dtype(column.dtype)


def _missing(value) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    try:
        return bool(isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def _format_number(value, digits: int, integer: bool) -> str:
    if _missing(value):
        return DASH
    if integer:
        return str(int(value))
    text = f"{float(value):.{digits}f}"
    if text.startswith("-") and float(text) == 0:  # "-0" after rounding reads as a sign that is not there
        text = text[1:]
    return text


def _display_text(frame: pd.DataFrame, numeric: list[bool], digits: int) -> pd.DataFrame:
    """The cells as shown in md/tex/html: numbers rounded to `digits`, NaN as an en dash."""
    columns = {}
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        if numeric[j]:
            integer = _is_integer(column)
            columns[j] = [_format_number(v, digits, integer) for v in column]
        else:
            columns[j] = [DASH if _missing(v) else str(v) for v in column]
    out = pd.DataFrame(columns, index=frame.index)
    out.columns = frame.columns
    return out


def _marks(frame: pd.DataFrame, numeric: list[bool], digits: int, best: str | None) -> np.ndarray:
    """Per cell: 1 best, 2 second best, 0 neither. Judged per column on the shown (rounded) values."""
    marks = np.zeros(frame.shape, dtype=int)
    if best is None:
        return marks
    for j in range(frame.shape[1]):
        if not numeric[j]:
            continue
        values = pd.to_numeric(frame.iloc[:, j], errors="coerce").astype(float).to_numpy()
        shown = np.where(np.isfinite(values), np.round(values, 0 if _is_integer(frame.iloc[:, j]) else digits), np.nan)
        finite = shown[np.isfinite(shown)]
        if finite.size < 2:
            continue
        distinct = np.unique(finite)  # ascending
        if best == "max":
            distinct = distinct[::-1]
        marks[:, j] = np.where(shown == distinct[0], 1, 0)
        if distinct.size > 1:
            marks[:, j] = np.where(shown == distinct[1], 2, marks[:, j])
    return marks


def _fills(frame, numeric, best, shade, colour) -> list[list[str | None]]:
    """Per cell a background colour as "RRGGBB", or None for none."""
    fills: list[list[str | None]] = [[None] * frame.shape[1] for _ in range(frame.shape[0])]
    if colour is not None:
        values = colour.apply(pd.to_numeric, errors="coerce").astype(float).to_numpy()
        finite = np.abs(values[np.isfinite(values)])
        limit = float(finite.max()) if finite.size else 0.0
        if limit > 0:
            import matplotlib

            cmap = matplotlib.colormaps[DIVERGING_CMAP]
            for (i, j), value in np.ndenumerate(values):
                if np.isfinite(value):
                    rgb = np.asarray(cmap(0.5 + 0.5 * DIVERGING_RANGE * value / limit)[:3])
                    rgb = 1 - DIVERGING_STRENGTH * (1 - rgb)
                    fills[i][j] = "".join(f"{int(round(255 * c)):02X}" for c in rgb)
        return fills
    if not shade:
        return fills
    for j in range(frame.shape[1]):
        if not numeric[j]:
            continue
        values = pd.to_numeric(frame.iloc[:, j], errors="coerce").astype(float).to_numpy()
        finite = values[np.isfinite(values)]
        if finite.size < 2:
            continue
        median = float(np.median(finite))
        top = float(finite.min() if best == "min" else finite.max())
        if top == median:
            continue
        for i, value in enumerate(values):
            if not np.isfinite(value):
                continue
            frac = min(max((value - median) / (top - median), 0.0), 1.0)
            if frac > 0:
                rgb = [255 + frac * (c - 255) for c in SHADE_FULL]
                fills[i][j] = "".join(f"{int(round(c)):02X}" for c in rgb)
    return fills


def _aligned(colour: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    if colour.shape != frame.shape:
        raise ValueError(f"colour frame has shape {colour.shape}, the table {frame.shape}")
    if colour.index.equals(frame.index) and colour.columns.equals(frame.columns):
        return colour
    if set(colour.index) == set(frame.index) and set(colour.columns) == set(frame.columns):
        return colour.reindex(index=frame.index, columns=frame.columns)
    return colour  # same shape, other labels: taken position by position


# --- flattened labels --------------------------------------------------------------------------------


def _flat_label(label) -> str:
    if isinstance(label, tuple):
        parts = [str(p) for p in label if not _missing(p) and str(p) != ""]
        return " / ".join(parts)
    return "" if _missing(label) else str(label)


def _flat_columns(columns: pd.Index) -> list[str]:
    return [_flat_label(c) for c in columns]


def _index_names(index: pd.Index) -> list[str]:
    names = []
    for k, name in enumerate(index.names):
        names.append(str(name) if name is not None else ("" if index.nlevels == 1 else f"level_{k}"))
    return names


def _has_plain_index(frame: pd.DataFrame) -> bool:
    """A default 0..n-1 RangeIndex without a name says nothing and is left out."""
    index = frame.index
    return isinstance(index, pd.RangeIndex) and index.name is None and index.start == 0 and index.step == 1


def _with_index_columns(frame: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """`values` (same shape as frame) with flat column names and frame's index as leading columns."""
    out = values.copy()
    out.columns = _flat_columns(frame.columns)
    if _has_plain_index(frame):
        return out.reset_index(drop=True)
    index_columns = {}
    for k, name in enumerate(_index_names(frame.index)):
        index_columns[name] = [_flat_label(v) if isinstance(v, tuple) else v for v in frame.index.get_level_values(k)]
    left = pd.DataFrame(index_columns)
    right = out.reset_index(drop=True)
    return pd.concat([left, right], axis=1)


# --- the four formats -----------------------------------------------------------------------------


def _csv(frame: pd.DataFrame) -> str:
    flat = _with_index_columns(frame, frame)
    return flat.to_csv(index=False, lineterminator="\n")


def _markdown(frame: pd.DataFrame, text: pd.DataFrame, notes: list[str], caption: str) -> str:
    flat = _with_index_columns(frame, text)
    flat = flat.map(lambda v: DASH if _missing(v) else str(v))
    numeric = [_is_numeric(frame.iloc[:, j]) for j in range(frame.shape[1])]
    n_index = flat.shape[1] - frame.shape[1]
    align = ["left"] * n_index + ["right" if n else "left" for n in numeric]
    body = flat.to_markdown(index=False, colalign=align, disable_numparse=True)
    parts = []
    if caption:
        parts.append(f"**{caption}**\n")
    parts.append(body + "\n")
    if notes:
        parts.append("\n".join(f"- {note}" for note in notes) + "\n")
    return "\n".join(parts)


def _latex_escape(text: str) -> str:
    replace = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(replace.get(ch, ch) for ch in str(text))


def _styler(frame: pd.DataFrame, text: pd.DataFrame):
    """A Styler over the display strings (positional column keys avoid duplicate-label trouble)."""
    shown = text.copy()
    shown.columns = frame.columns
    return shown.style


def _cell_styles(marks, fills, fill: str, best: str, second: str) -> np.ndarray:
    """Per cell, the style text of its shading (`fill` formatted with the colour), then of its mark
    (1: best, 2: second): the same cells for LaTeX and HTML, each in its own syntax."""
    styles = np.full(np.shape(marks), "", dtype=object)
    for (i, j), mark in np.ndenumerate(marks):
        styles[i, j] = (fill.format(fills[i][j]) if fills[i][j] else "") + {1: best, 2: second}.get(mark, "")
    return styles


def _latex(frame, text, marks, fills, notes, caption) -> str:
    shown = text.map(_latex_escape)
    styler = _styler(frame, shown)
    styler = styler.format_index(_latex_escape_label, axis=0).format_index(_latex_escape_label, axis=1)
    styles = _cell_styles(marks, fills, "cellcolor:[HTML]{{{}}};", "textbf:--rwrap;", "underline:--rwrap;")
    styler = styler.apply(lambda _: pd.DataFrame(styles, index=shown.index, columns=shown.columns), axis=None)
    if frame.index.nlevels == 1 and frame.index.name is None and _has_plain_index(frame):
        styler = styler.hide(axis="index")
    n_columns = frame.shape[1] + (0 if _has_plain_index(frame) else frame.index.nlevels)
    align = "l" * (0 if _has_plain_index(frame) else frame.index.nlevels) + "".join(
        "r" if _is_numeric(frame.iloc[:, j]) else "l" for j in range(frame.shape[1])
    )
    tabular = styler.to_latex(
        column_format=align,
        hrules=True,
        multicol_align="c",
        multirow_align="t",
        clines=None,
        siunitx=False,
    )
    lines = [
        # zsc.render was this module's earlier name: kept in the header, so that the same table still
        # gives the same bytes as before the rename
        "% Written by zsc.render.write_table. Needs \\usepackage{booktabs,multirow,graphicx} and \\usepackage[table]{xcolor}.",
        "\\begin{table}[t]",
        "\\centering",
        "\\footnotesize",
    ]
    if caption:
        lines.append(f"\\caption{{{_latex_escape(caption)}}}")
    if n_columns > WIDE_TABLE_COLUMNS:
        lines.append("\\resizebox{\\linewidth}{!}{%")
        lines.append(tabular.rstrip("\n"))
        lines.append("}")
    else:
        lines.append(tabular.rstrip("\n"))
    if notes:
        lines.append("\\par\\smallskip")
        lines.append("\\begin{minipage}{\\linewidth}\\scriptsize")
        lines.extend(f"{_latex_escape(note)}\\par" for note in notes)
        lines.append("\\end{minipage}")
    lines.append("\\end{table}")
    if notes:
        lines.extend(f"% Note: {note}" for note in notes)
    return "\n".join(lines) + "\n"


def _latex_escape_label(label) -> str:
    return _latex_escape(_flat_label(label))


def _html_label(label) -> str:
    return html.escape(_flat_label(label))


def _html(frame, text, marks, fills, notes, caption) -> str:
    shown = text.map(html.escape)
    styler = _styler(frame, shown).set_uuid("zsc")
    styler = styler.format_index(_html_label, axis=0).format_index(_html_label, axis=1)
    styles = _cell_styles(marks, fills, "background-color: #{};", " font-weight: bold;", " text-decoration: underline;")
    styles = np.vectorize(str.strip, otypes=[object])(styles)
    styler = styler.apply(lambda _: pd.DataFrame(styles, index=shown.index, columns=shown.columns), axis=None)
    for j in range(frame.shape[1]):
        if not _is_numeric(frame.iloc[:, j]):
            styler = styler.set_properties(subset=pd.IndexSlice[:, frame.columns[j : j + 1]], **{"text-align": "left"})
    if _has_plain_index(frame):
        styler = styler.hide(axis="index")
    styler = styler.set_table_styles(_CSS)
    if caption:
        styler = styler.set_caption(html.escape(caption))
    table = styler.to_html(doctype_html=False)
    title = html.escape(caption) if caption else "table"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{title}</title>",
        f"<style>{_PAGE_CSS}</style>",
        "</head>",
        "<body>",
        table.rstrip("\n"),
    ]
    if notes:
        parts.append('<ul class="notes">')
        parts.extend(f"<li>{html.escape(note)}</li>" for note in notes)
        parts.append("</ul>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _write_text(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(content.encode("utf-8"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)

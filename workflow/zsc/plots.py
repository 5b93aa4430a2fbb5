"""The study's figures (docs/study.md#5-tables-and-figures), each a function returning a matplotlib Figure.

Every `plot_*`-style function takes the frames the analysis computes (zsc.study) and returns a
Figure on the Agg canvas (no pyplot state: nothing to close, nothing shown). `save_figure` writes
stem.png (200 dpi) and stem.pdf with fixed metadata, so the same data gives the same bytes.
Figure sizes grow with the number of panels, rows and labels up to the page, and degenerate panels
(too few points for a correlation or a histogram) say so instead of drawing one: the tests draw every
figure of the output registry at the study's size (26 datasets, 18 encoders, 6 clusterers) and of the
default run and check what keeps a figure from a paper's page (tests/figure_text.py: larger than
7.2 x 8 in, texts that overlap or leave the figure, a config key shown where its display name
belongs, legend entries drawn alike).

Style: paper column widths (3.5 in single column, 7.2 in full width), 7-8 pt text (5 pt numbers in heat-map cells), the Okabe-Ito
colour-blind-safe palette, cividis for heat maps, and a purple-orange diverging map where a sign
matters. AMI is shown as AMI x 100 (`AMI_UNIT`), its differences in percentage points; AMI inputs
given as fractions (0-1) are multiplied by 100, inputs already x 100 are left as they are.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import textwrap
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

import matplotlib
import matplotlib.ticker

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

# Okabe & Ito (2008), ordered for lines and markers on white: the yellow (hard to see) last.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
NEGATIVE = "#D55E00"  # vermillion
POSITIVE = "#009E73"  # bluish green
NEUTRAL = "#999999"
SINGLE = OKABE_ITO[0]
HEATMAP_CMAP = "cividis"

SINGLE_COLUMN = 3.5  # inches
FULL_WIDTH = 7.2
ROW_UNIT = 0.14  # inches per labelled bar row (7 pt tick labels with a little air)

TICK_SIZE = 7
LABEL_SIZE = 8
TITLE_SIZE = 8
SUPTITLE_SIZE = 8
NOTE_SIZE = 7
CELL_SIZE = 5

STYLE = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": LABEL_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": LABEL_SIZE,
    "xtick.labelsize": TICK_SIZE,
    "ytick.labelsize": TICK_SIZE,
    "legend.fontsize": TICK_SIZE,
    "legend.title_fontsize": LABEL_SIZE,
    "figure.titlesize": SUPTITLE_SIZE,
    "figure.labelsize": LABEL_SIZE,
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.major.width": 0.5,
    "ytick.major.width": 0.5,
    "xtick.major.size": 2.5,
    "ytick.major.size": 2.5,
    "xtick.minor.size": 1.5,
    "ytick.minor.size": 1.5,
    "xtick.major.pad": 1.5,
    "ytick.major.pad": 1.5,
    "lines.linewidth": 1.0,
    "lines.markersize": 3,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text
    "svg.fonttype": "none",
    "image.interpolation": "nearest",
}

TRAINING_COLOURS = {
    "supervised": OKABE_ITO[0],
    "self-supervised": OKABE_ITO[1],
    "fine-tuned": OKABE_ITO[2],
    "random": NEUTRAL,
    "none": OKABE_ITO[6],  # raw pixels
}


def _styled(function: Callable) -> Callable:
    """Build the figure under the study's style (fonts and sizes are fixed when artists are made)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float, **layout) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(**{"w_pad": 2 / 72, "h_pad": 2 / 72, "wspace": 0.02, "hspace": 0.02, **layout})
    return fig


def _ticks(ax, **kwargs) -> None:
    ax.tick_params(**{"labelsize": TICK_SIZE, "length": 2.5, "width": 0.5, "pad": 1.5, **kwargs})


def _legend_below(fig: Figure, handles: list, ncol_max: int = 8, **kwargs):
    """A figure legend under the panels, in as few balanced rows as fit the figure's width; the
    figure grows by the legend's height (callers leave no room for it)."""
    if not handles:  # nothing drawn to name
        return None
    renderer = fig.canvas.get_renderer()
    n = len(handles)
    legend = None
    for rows in range(1, n + 1):
        ncol = min(int(np.ceil(n / rows)), ncol_max)
        legend = fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=TICK_SIZE, **kwargs)
        if legend.get_window_extent(renderer).width <= 0.98 * fig.bbox.width or ncol == 1:
            break
        legend.remove()
    width, height = fig.get_size_inches()
    fig.set_size_inches(width, height + legend.get_window_extent(renderer).height / fig.dpi + 0.05)
    return legend


def _percent(values) -> np.ndarray:
    """AMI in percent: fractions (all finite values within [-1, 1]) are multiplied by 100."""
    values = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce"), dtype=float)
    finite = values[np.isfinite(values)]
    if finite.size and np.abs(finite).max() <= 1.0 + 1e-9:
        return 100 * values
    return values


def _ordered(values, order: Sequence | None = None) -> list:
    present = list(dict.fromkeys(values))
    if order is None:
        return present
    known = [v for v in order if v in set(present)]
    return known + [v for v in present if v not in set(known)]


# --- encoder facts ---------------------------------------------------------------------------------


def encoder_info(encoder: str, labels: dict | None = None) -> dict:
    """label, method (label without " [FT]"), training and architecture of an encoder.

    `labels` maps encoder -> display label, or encoder -> {"label", "architecture", "training"} (the
    shape of facts["encoders"]). What it does not give comes from the study's registry
    (zsc.encoders.STUDY_ENCODERS) when the name is there, else from the name and label: "[FT]" =
    fine-tuned, "X-Ent" = supervised, "Rand" = random, else self-supervised; "vit" in the name =
    ViT-B, "resnet"/"rn50" = ResNet-50. Fine-tuned labels end in " [FT]".
    """
    given = (labels or {}).get(encoder, {})
    given = dict(given) if isinstance(given, dict) else {"label": str(given)}
    label = str(given.get("label") or encoder)
    from .encoders import STUDY_ENCODERS

    study = STUDY_ENCODERS.get(encoder, {})
    lower = f"{encoder} {label}".lower()
    training = given.get("training") or study.get("training")
    if not training:
        if "[ft]" in lower or str(encoder).lower().startswith("ft_") or "finetune" in lower or "fine-tune" in lower:
            training = "fine-tuned"
        elif "x-ent" in lower or "supervised" in lower:
            training = "supervised"
        elif "rand" in lower:
            training = "random"
        else:
            training = "self-supervised"
    architecture = given.get("architecture")
    if not architecture:
        arch_text = str(study.get("arch", encoder)).lower()
        if "vit" in arch_text:
            architecture = "ViT-B"
        elif "resnet" in arch_text or "rn50" in arch_text or "rn-50" in arch_text:
            architecture = "ResNet-50"
        else:
            architecture = "other"
    if training == "fine-tuned" and "[FT]" not in label:
        label = f"{label} [FT]"
    method = re.sub(r"\s*\[FT\]\s*$", "", label).strip() or label
    return {"label": label, "method": method, "training": str(training), "architecture": str(architecture)}


RAW_MARKER = "D"  # raw pixels: no architecture


def arch_marker(architecture: str) -> str:
    """Marker of an architecture: circle for ResNets, triangle for ViTs, a diamond for raw pixels,
    square otherwise."""
    text = str(architecture).lower()
    if text == "raw pixels":
        return RAW_MARKER
    if "vit" in text:
        return "^"
    if "resnet" in text or "rn" in text:
        return "o"
    return "s"


def _name(key, labels: dict | None) -> str:
    """Display name: labels[key] (a string, or a dict's "label"), else key."""
    given = (labels or {}).get(key)
    if isinstance(given, dict):
        given = given.get("label")
    return str(given) if given else str(key)


def _method_colours(methods: Sequence[str], info: dict | None = None) -> dict[str, str]:
    """A colour per method: random-init methods grey, raw pixels black, the others the Okabe-Ito colours
    in turn (black left out; cycling past eight methods, where line style and marker must tell apart)."""
    fixed = {i["method"]: TRAINING_COLOURS[i["training"]] for i in (info or {}).values() if i["training"] in ("random", "none")}
    others = [c for c in OKABE_ITO if c != TRAINING_COLOURS["none"]]
    palette = iter(others * (1 + len(methods) // len(others)))
    return {m: fixed.get(m) or next(palette) for m in methods}


# --- 1 and 2: ΔAMI and ranks by domain group x architecture --------------------------------------------


@_styled
def delta_by_domain(
    delta: pd.DataFrame, groups: Sequence[str], encoder_order: Sequence[str], labels: dict, p: str = "p_holm"
) -> Figure:
    """ΔAMI vs the supervised (X-Ent) encoder: bars of the mean ± std over each group's datasets, * where
    the `p` column (default Holm-corrected; "p" when absent) is below 0.05. Random-init encoders and raw
    pixels do not set the axis range: a bar beyond it is drawn pale up to the edge, with an arrowhead and its
    mean ± std written."""
    return _by_domain(
        delta,
        value="mean",
        err="std",
        p=p if p in delta else "p",
        groups=groups,
        encoder_order=encoder_order,
        labels=labels,
        xlabel="ΔAMI vs supervised (p.p.)",
        kind="bar",
    )


@_styled
def rank_by_domain(
    ranks: pd.DataFrame, groups: Sequence[str], encoder_order: Sequence[str], labels: dict, p: str = "wilcoxon_p_holm"
) -> Figure:
    """Mean rank (dot) ± std (line) of each encoder over each group's datasets, * where the `p` column
    (default Holm-corrected Wilcoxon; "wilcoxon_p" when absent) is below 0.05."""
    return _by_domain(
        ranks,
        value="mean_rank",
        err="std_rank",
        p=p if p in ranks else "wilcoxon_p",
        groups=groups,
        encoder_order=encoder_order,
        labels=labels,
        xlabel="mean rank (1 = best)",
        kind="dot",
    )


OFF_AXIS_TRAININGS = ("random", "none")  # far below every trained encoder: drawn off-axis, not setting the range
MAX_HEIGHT = 8.0  # inches: the tallest figure a page takes (at FULL_WIDTH)
MIN_ROW_UNIT = 0.11  # inches per labelled row at 7 pt, the least that keeps tick labels apart


def _by_domain(frame, *, value, err, p, groups, encoder_order, labels, xlabel, kind) -> Figure:
    """Rows = domain groups, columns = architectures; each panel lists only its architecture's encoders."""
    archs = _ordered(frame["architecture"])
    rows = [g for g in groups if g in set(frame["group"])] or _ordered(frame["group"])
    encoders = _ordered(frame["encoder"], encoder_order)
    info = {e: encoder_info(e, labels) for e in encoders}
    if "label" in frame and not labels:
        for e, label in zip(frame["encoder"], frame["label"].astype(str)):
            info[e]["label"] = label
    per_arch = {a: [e for e in encoders if ((frame["architecture"] == a) & (frame["encoder"] == e)).any()] for a in archs}
    n_slots = max([len(v) for v in per_arch.values()] + [1])
    row_unit = max(MIN_ROW_UNIT, min(ROW_UNIT, ((MAX_HEIGHT - 0.9) / max(len(rows), 1) - 0.2) / n_slots))
    fig = _figure(FULL_WIDTH if len(archs) > 1 else SINGLE_COLUMN, (row_unit * n_slots + 0.2) * len(rows) + 0.7)
    axes = fig.subplots(len(rows), len(archs), squeeze=False, sharex="col")
    values = pd.to_numeric(frame[value], errors="coerce")
    errors = pd.to_numeric(frame[err], errors="coerce").fillna(0) if err in frame else pd.Series(0.0, index=frame.index)
    off_axis = frame["encoder"].map(lambda e: info[e]["training"] in OFF_AXIS_TRAININGS)
    for c, arch in enumerate(archs):
        in_arch = frame["architecture"] == arch
        lo, hi = _axis_range(values[in_arch], errors[in_arch], off_axis[in_arch], kind)
        slots = {e: i for i, e in enumerate(per_arch[arch])}
        for r, group in enumerate(rows):
            ax = axes[r, c]
            sub = frame[in_arch & (frame["group"] == group)]
            for idx, row in sub.iterrows():
                v, e = float(values[idx]), float(errors[idx])
                if not np.isfinite(v):
                    continue
                y = slots[row["encoder"]]
                significant = p in sub and pd.notna(row[p]) and float(row[p]) < 0.05
                if kind == "bar":
                    _delta_bar(ax, y, v, e, lo, hi, significant)
                else:
                    _rank_dot(ax, y, v, e, significant)
            if kind == "bar":
                ax.axvline(0, color="#333333", linewidth=0.6)
            ax.set_xlim(lo, hi)
            ax.grid(axis="x", color="#DDDDDD", linewidth=0.4)
            ax.set_axisbelow(True)
            ax.set_yticks(range(len(slots)), [info[e]["label"] for e in slots])
            ax.set_ylim(n_slots - 0.5, -0.5)
            _ticks(ax)
            ax.tick_params(axis="y", length=0)
            if r == 0:
                ax.set_title(str(arch), fontsize=TITLE_SIZE)
            if r == len(rows) - 1:
                ax.set_xlabel(xlabel)
            if c == len(archs) - 1:
                ax.annotate(
                    str(group),
                    xy=(1.02, 0.5),
                    xycoords="axes fraction",
                    rotation=-90,
                    ha="left",
                    va="center",
                    fontsize=TITLE_SIZE,
                )
    fig.supylabel("encoder", fontsize=LABEL_SIZE)
    return fig


def _axis_range(values: pd.Series, errors: pd.Series, off_axis: pd.Series, kind: str) -> tuple[float, float]:
    """x limits of one architecture's column: ranks from 0.5 to the number of encoders + 0.5 (errors may
    reach past, clipped); differences over the mean ± error of the encoders that set the range (not
    random-init or raw pixels, unless nothing else is there), with 0 inside."""
    finite = np.isfinite(values.to_numpy(dtype=float))
    if kind == "dot":
        top = np.nanmax(np.r_[1.0, values.to_numpy(dtype=float)[finite]])
        return 0.5, max(top, float(np.ceil(top))) + 0.5
    setting = finite & ~off_axis.to_numpy(dtype=bool)
    setting = setting if setting.any() else finite
    v, e = values.to_numpy(dtype=float)[setting], errors.to_numpy(dtype=float)[setting]
    lo, hi = float(np.min(np.r_[0.0, v - e])), float(np.max(np.r_[0.0, v + e]))
    pad = 0.15 * (hi - lo if hi > lo else 1.0)
    return lo - (pad if lo < 0 else 0.0), hi + (pad if hi > 0 else 0.0)


def _delta_bar(ax, y: float, v: float, e: float, lo: float, hi: float, significant: bool) -> None:
    colour = POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL
    error_kw = {"elinewidth": 0.6, "capsize": 1.2, "capthick": 0.6, "ecolor": "#333333"}
    if lo <= v <= hi:
        ax.barh(y, v, height=0.7, xerr=e if e > 0 else None, color=colour, error_kw=error_kw)
        end = v + (e if v >= 0 else -e)
        if significant:
            side = 1 if v >= 0 else -1
            ax.annotate(
                "*", (min(max(end, lo), hi), y), xytext=(side * 1.5, -1.5), textcoords="offset points",
                ha="left" if side > 0 else "right", va="center", fontsize=LABEL_SIZE,
            )  # fmt: skip
        return
    edge = lo if v < lo else hi  # off the axis: a pale bar to the edge, a break mark, its value written on it
    ax.barh(y, edge, height=0.7, color=colour, alpha=0.35, linewidth=0)
    inward = 0.012 * (hi - lo) * (1 if v < lo else -1)
    ax.plot([edge + inward], [y], marker="<" if v < lo else ">", color=colour, markersize=4)
    text = f"{v:.0f} ± {e:.0f}{' *' if significant else ''}".replace("-", "\u2212")
    ax.annotate(
        text, (edge, y), xytext=(7 if v < lo else -7, 0), textcoords="offset points",
        ha="left" if v < lo else "right", va="center", fontsize=NOTE_SIZE - 1, color="black",
    )  # fmt: skip


def _rank_dot(ax, y: float, v: float, e: float, significant: bool) -> None:
    ax.errorbar(v, y, xerr=e if e > 0 else None, fmt="o", color=SINGLE, markersize=3, elinewidth=0.8, capsize=1.5, capthick=0.6)
    if significant:
        ax.annotate("*", (v, y), xytext=(0, 1.5), textcoords="offset points", ha="center", va="bottom", fontsize=LABEL_SIZE)


# --- 3: clusterer ranking ------------------------------------------------------------------------


@_styled
def clusterer_ranking(summary: pd.DataFrame, labels: dict | None = None) -> Figure:
    """Mean rank (dot) ± std (line) of each clusterer over (encoder, dataset) pairs, best at the top."""
    labels = labels or {}
    summary = summary.sort_values(["mean_rank", "clusterer"], kind="mergesort").reset_index(drop=True)
    k = len(summary)
    fig = _figure(SINGLE_COLUMN, 0.75 + 0.2 * max(k, 1))
    ax = fig.subplots()
    means = pd.to_numeric(summary["mean_rank"], errors="coerce").to_numpy(dtype=float)
    stds = pd.to_numeric(summary.get("std_rank", pd.Series(0.0, index=summary.index)), errors="coerce").fillna(0).to_numpy()
    ax.errorbar(means, np.arange(k), xerr=stds, fmt="o", color=SINGLE, markersize=3.5, elinewidth=0.8, capsize=2, capthick=0.6)
    ax.set_yticks(np.arange(k), [_name(c, labels) for c in summary["clusterer"]])
    ax.set_ylim(k - 0.5, -0.5)
    ax.set_xlim(0.5, max(k, 1) + 0.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("mean rank (1 = best)")
    ax.set_ylabel("clusterer")
    ax.grid(axis="x", color="#DDDDDD", linewidth=0.4)
    ax.set_axisbelow(True)
    _ticks(ax)
    ax.tick_params(axis="y", length=0)
    if "n" in summary and len(summary):
        ns = pd.to_numeric(summary["n"], errors="coerce").dropna().astype(int)
        n_text = f"{ns.iloc[0]}" if ns.nunique() == 1 else f"{ns.min()}–{ns.max()}"
        ax.set_title(f"n = {n_text} (encoder, dataset) pairs", fontsize=TITLE_SIZE)
    else:
        ax.set_title("clusterer ranking", fontsize=TITLE_SIZE)
    return fig


# --- 4: silhouette vs AMI --------------------------------------------------------------------------

AMI_UNIT = "AMI × 100"  # the one unit of AMI in every figure (differences: p.p., percentage points of it)
MIN_N_CORRELATION = 5  # fewer points: a panel says so instead of a rank correlation
MIN_N_HISTOGRAM = 10  # fewer values: a rug and a note instead of a histogram


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def _rho_text(rho: float, n: int) -> str:
    if n < MIN_N_CORRELATION:
        return f"n = {n}: too few\npoints for ρ"
    return f"ρ = {rho:.2f}\nn = {n}" if np.isfinite(rho) else f"ρ undefined\n(a constant)\nn = {n}"


def _encoder_styles(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """Per row: training (colour) and architecture (marker), from columns when given, else encoder_info."""
    info = {e: encoder_info(e, labels) for e in dict.fromkeys(frame["encoder"])}
    training = frame["training"] if "training" in frame else frame["encoder"].map(lambda e: info[e]["training"])
    architecture = frame["architecture"] if "architecture" in frame else frame["encoder"].map(lambda e: info[e]["architecture"])
    return pd.DataFrame({"training": training.astype(str), "architecture": architecture.astype(str)}, index=frame.index)


def _training_legend(styles: pd.DataFrame, colour: dict, marker: dict) -> list:
    """One entry per training (colour) and per architecture (marker) among the points drawn; raw
    pixels, whose training and architecture are one thing, get one entry of their own."""
    raw = styles["training"] == "none"
    handles = [
        Line2D([], [], linestyle="", marker="o", color=colour[t], markersize=3.5, label=t)
        for t in _ordered(styles.loc[~raw, "training"], list(TRAINING_COLOURS))
    ]
    handles += [
        Line2D([], [], linestyle="", marker=marker[a], color="#555555", markersize=3.5, label=a)
        for a in _ordered(styles.loc[~raw, "architecture"])
    ]
    if raw.any():
        handles.append(Line2D([], [], linestyle="", marker=RAW_MARKER, color=colour["none"], markersize=3.5, label="raw pixels"))
    return handles


@_styled
def silhouette_vs_ami(
    points: pd.DataFrame, clusterers: Sequence[str], labels: dict, clusterer_labels: dict | None = None
) -> Figure:
    """Silhouette of the predicted clusters (x) vs AMI (y): original space (top), UMAP-50 (bottom); one point
    per row of `points` (one pipeline per (encoder, dataset, clusterer)), Spearman's ρ per panel;
    `labels`: the encoders' (as in encoder_info), `clusterer_labels`: the clusterers' display names."""
    clusterers = [c for c in clusterers if c in set(points["clusterer"])] or _ordered(points["clusterer"])
    spaces = [("silhouette_og", "original space"), ("silhouette_umap", "UMAP-50 space")]
    styles = _encoder_styles(points, labels)
    trainings = _ordered(styles["training"], list(TRAINING_COLOURS))
    spare = iter([c for c in OKABE_ITO if c not in TRAINING_COLOURS.values()] * len(trainings))
    colour = {t: TRAINING_COLOURS.get(t) or next(spare) for t in trainings}
    marker = {a: arch_marker(a) for a in _ordered(styles["architecture"])}
    ami = pd.Series(_percent(points["AMI"]), index=points.index)

    n_cols = max(len(clusterers), 1)
    width = FULL_WIDTH if n_cols > 2 else SINGLE_COLUMN
    fig = _figure(width, 2 * 1.25 + 0.45)
    axes = fig.subplots(2, n_cols, squeeze=False, sharey="all", sharex="row")
    drawn = []
    for r, (column, space) in enumerate(spaces):
        for c, clusterer in enumerate(clusterers):
            ax = axes[r, c]
            rows = points["clusterer"] == clusterer
            x = pd.to_numeric(points.loc[rows, column], errors="coerce") if column in points else pd.Series(dtype=float)
            y = ami[rows]
            keep = np.isfinite(x.to_numpy(dtype=float)) & np.isfinite(y.to_numpy(dtype=float))
            x, y = x[keep], y[keep]
            st = styles.loc[x.index]
            drawn.append(st)
            for (t, a), idx in st.groupby(["training", "architecture"], sort=False).groups.items():
                m = RAW_MARKER if t == "none" else marker[a]
                size = 5 if len(points) > 100 * n_cols else 14  # small markers only where they crowd
                ax.scatter(x[idx], y[idx], s=size, color=colour[t], marker=m, alpha=0.7, linewidths=0, rasterized=True)
            rho = _spearman(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
            ax.text(
                0.03,
                0.97,
                _rho_text(rho, int(keep.sum())),
                transform=ax.transAxes,
                ha="left",
                va="top",
                fontsize=NOTE_SIZE,
                bbox={"boxstyle": "square,pad=0.15", "facecolor": "white", "alpha": 0.8, "linewidth": 0},
            )
            _ticks(ax)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
            if r == 0:
                ax.set_title(_name(clusterer, clusterer_labels), fontsize=TITLE_SIZE)
            ax.set_xlabel("silhouette", fontsize=LABEL_SIZE)
            if c == 0:
                ax.set_ylabel(AMI_UNIT)
            if c == n_cols - 1:
                ax.annotate(
                    space, xy=(1.04, 0.5), xycoords="axes fraction", rotation=-90, ha="left", va="center", fontsize=NOTE_SIZE
                )
    low, high = axes[0, 0].get_ylim()  # room above the points for the note of each panel (shared y)
    axes[0, 0].set_ylim(low, high + 0.3 * (high - low))
    shown = pd.concat(drawn) if drawn else styles.iloc[:0]
    if len(shown):
        _legend_below(fig, _training_legend(shown, colour, marker), handletextpad=0.3)
    return fig


# --- 5: clusterer pairs --------------------------------------------------------------------------


@_styled
def clusterer_pairs(cells: pd.DataFrame, clusterers: Sequence[str], labels: dict | None = None) -> Figure:
    """Pair plot of AMI between clusterers over (encoder, dataset) cells; Spearman ρ above the diagonal
    (a note where fewer than MIN_N_CORRELATION pairs), AMI histograms on it (a rug and a note where
    fewer than MIN_N_HISTOGRAM values)."""
    labels = labels or {}
    clusterers = [c for c in clusterers if c in set(cells["clusterer"])] or _ordered(cells["clusterer"])
    data = cells.assign(AMI=_percent(cells["AMI"]))
    wide = data.groupby(["encoder", "dataset", "clusterer"], sort=False)["AMI"].mean().unstack("clusterer")
    wide = wide.reindex(columns=clusterers)
    k = len(clusterers)
    finite = wide.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    top = max(10.0, float(np.ceil(finite.max() / 10) * 10)) if finite.size else 100.0
    low = min(0.0, float(np.floor(finite.min() / 10) * 10)) if finite.size else 0.0
    side = FULL_WIDTH if k > 3 else SINGLE_COLUMN
    fig = _figure(side, side * 0.97)
    axes = fig.subplots(k, k, squeeze=False)
    bins = np.linspace(low, top, 21)
    for i, ci in enumerate(clusterers):
        for j, cj in enumerate(clusterers):
            ax = axes[i, j]
            if i < j:
                pair = wide[[cj, ci]].dropna()
                rho = _spearman(pair[cj].to_numpy(), pair[ci].to_numpy())
                ax.text(0.5, 0.5, _rho_text(rho, len(pair)), transform=ax.transAxes, ha="center", va="center", fontsize=NOTE_SIZE)
                ax.set_axis_off()
                continue
            if i == j:
                values = wide[ci].dropna()
                if len(values) >= MIN_N_HISTOGRAM:
                    ax.hist(values, bins=bins, color=SINGLE, alpha=0.8, linewidth=0)
                else:
                    ax.plot(values, np.zeros(len(values)), "|", color=SINGLE, markersize=8)
                    ax.set_ylim(-0.5, 2)
                    note = f"n = {len(values)}: too few\nfor a histogram"
                    ax.text(0.5, 0.95, note, transform=ax.transAxes, ha="center", va="top", fontsize=NOTE_SIZE - 1)
                ax.set_yticks([])
                ax.spines["left"].set_visible(False)
            else:
                pair = wide[[cj, ci]].dropna()
                ax.plot([low, top], [low, top], color="#777777", linewidth=0.6, linestyle="--")
                many = len(pair) > 50
                ax.scatter(
                    pair[cj],
                    pair[ci],
                    s=3 if many else 8,
                    color=SINGLE,
                    alpha=0.45 if many else 0.9,
                    linewidths=0,
                    rasterized=True,
                )
                ax.set_ylim(low, top)
            ax.set_xlim(low, top)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
            if i == j:
                ax.yaxis.set_major_locator(matplotlib.ticker.NullLocator())
            else:
                ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
            _ticks(ax)
            name_j = _name(cj, labels)
            name_i = _name(ci, labels)
            if i == k - 1:
                ax.set_xlabel(f"{name_j}\n{AMI_UNIT}")
            else:
                ax.tick_params(axis="x", labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(f"{name_i}\n{AMI_UNIT}")
            elif j == 0:
                ax.set_ylabel(f"{name_i}\n({'histogram' if len(wide[ci].dropna()) >= MIN_N_HISTOGRAM else 'values'})")
            elif i != j:
                ax.tick_params(axis="y", labelleft=False)
    return fig


# --- 6: AMI against taxonomic level ----------------------------------------------------------------


def _line_legend(fig, methods, colours, archs, fine_tuned: bool, ncol_max: int = 6, arch_styles=None):
    handles = [Line2D([], [], color=colours[m], linewidth=1.2, label=m) for m in methods]
    for a in [a for a in archs if a != "raw pixels"]:  # raw pixels: its method's colour is its entry
        if arch_styles is None:
            handles.append(Line2D([], [], linestyle="", marker=arch_marker(a), color="#555555", label=a))
        else:
            handles.append(Line2D([], [], linestyle=arch_styles[a], color="#555555", label=a))
    if fine_tuned:
        handles.append(Line2D([], [], linestyle="--" if arch_styles is None else ":", color="#555555", label="fine-tuned [FT]"))
    _legend_below(fig, handles, ncol_max)


def level_name(level, levels) -> str:
    """A level's tick label: without "label_"; the dataset's own "label" is its finest level
    ("species" below a genus level, else "class")."""
    if str(level) == "label":
        return "species" if any(str(lev) == "label_genus" for lev in levels) else "class"
    return re.sub(r"^label_", "", str(level))


@_styled
def taxonomy_levels(levels: pd.DataFrame, labels: dict, titles: dict | None = None) -> Figure:
    """AMI of the same clusters against each taxonomic level; colour = method, marker = architecture.

    `titles` optionally maps dataset -> panel title (e.g. "iNat-2021")."""
    datasets = _ordered(levels["dataset"])
    encoders = _ordered(levels["encoder"])
    info = {e: encoder_info(e, labels) for e in encoders}
    methods = _ordered(info[e]["method"] for e in encoders)
    colours = _method_colours(methods, info)
    archs = _ordered((info[e]["architecture"] for e in encoders))
    fine_tuned = any(info[e]["training"] == "fine-tuned" for e in encoders)
    n_cols = min(len(datasets), 2) or 1
    n_rows = int(np.ceil(len(datasets) / n_cols)) or 1
    width = FULL_WIDTH if n_cols > 1 else SINGLE_COLUMN
    fig = _figure(width, 2.1 * n_rows + 0.2)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharey="all")
    data = levels.assign(AMI=_percent(levels["AMI"]))
    top = np.nanmax(data["AMI"].to_numpy(dtype=float)) if len(data) else 40.0
    for k, dataset in enumerate(datasets):
        ax = axes[k // n_cols, k % n_cols]
        sub = data[data["dataset"] == dataset]
        order = sub.groupby("level", sort=False)["level_index"].min().sort_values(kind="mergesort")
        position = {lev: i for i, lev in enumerate(order.index)}
        for e in encoders:
            line = sub[sub["encoder"] == e].groupby("level", sort=False)["AMI"].mean()
            if line.empty:
                continue
            xs = sorted(position[lev] for lev in line.index)
            inverse = {position[lev]: lev for lev in line.index}
            ys = [line[inverse[x]] for x in xs]
            ax.plot(
                xs,
                ys,
                color=colours[info[e]["method"]],
                marker=arch_marker(info[e]["architecture"]),
                linestyle="--" if info[e]["training"] == "fine-tuned" else "-",
                linewidth=0.9,
                markersize=3,
                label=info[e]["label"],
            )
        names = [level_name(lev, order.index) for lev in order.index]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.3, len(names) - 0.7)
        ax.set_ylim(0, max(10.0, float(np.ceil(top / 10) * 10)))
        ax.set_title(_name(dataset, titles), fontsize=TITLE_SIZE)
        ax.set_xlabel("taxonomic level")
        if k % n_cols == 0:
            ax.set_ylabel(AMI_UNIT)
        ax.grid(axis="y", color="#E5E5E5", linewidth=0.4)
        _ticks(ax)
    for k in range(len(datasets), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    _line_legend(fig, methods, colours, archs, fine_tuned)
    return fig


# --- 7: heat map of AMI ----------------------------------------------------------------------------


def _blocks(index: pd.Index) -> list[tuple[str, int, int]]:
    """(name, first, last) runs of the outer level of a MultiIndex; [] for a flat index."""
    if index.nlevels < 2:
        return []
    outer = [str(v) for v in index.get_level_values(0)]
    runs: list[list] = []
    for k, name in enumerate(outer):
        if runs and runs[-1][0] == name:
            runs[-1][2] = k
        else:
            runs.append([name, k, k])
    return [tuple(r) for r in runs]


@_styled
def ami_heatmap(
    avg: pd.DataFrame, *, vmin: float = 0.0, vmax: float = 100.0, title: str = "", incomplete: pd.DataFrame | None = None
) -> Figure:
    """Encoders (rows) x datasets (columns) of AMI x 100 with the numbers in the cells (cividis).

    A MultiIndex on the rows, (architecture, encoder label), gives labels "label (architecture)" and a
    white line between architectures; on the columns, (group, dataset label), white lines between
    groups and the group names along the top. Cells flagged in `incomplete` (same shape: a mean over
    only some of its datasets) are left uncoloured, their number followed by a dagger.
    """
    values = avg.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    flags = np.zeros(values.shape, dtype=bool) if incomplete is None else np.asarray(incomplete, dtype=bool)
    n_rows, n_cols = values.shape
    if avg.index.nlevels > 1:
        row_labels = [f"{r[-1]} ({r[0]})" if str(r[0]) not in ("", "raw pixels") else str(r[-1]) for r in avg.index]
    else:
        row_labels = [str(r) for r in avg.index]
    col_labels = [str(c[-1]) if isinstance(c, tuple) else str(c) for c in avg.columns]
    row_blocks, col_blocks = _blocks(avg.index), _blocks(avg.columns)
    cell_w = min(0.3, (FULL_WIDTH - 1.5) / max(n_cols, 1))
    width = FULL_WIDTH if n_cols * cell_w + 1.5 > SINGLE_COLUMN else SINGLE_COLUMN
    longest = max((len(c) for c in col_labels), default=4)
    height = 0.17 * n_rows + 0.06 * longest + 0.45 + (0.2 if title else 0) + (0.15 if col_blocks else 0)
    fig = _figure(width, height)
    ax = fig.subplots()
    cmap = matplotlib.colormaps[HEATMAP_CMAP].with_extremes(bad="#E0E0E0")
    image = ax.imshow(np.ma.masked_invalid(np.where(flags, np.nan, values)), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fontsize = CELL_SIZE if n_cols > 12 else TICK_SIZE
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v) and flags[i, j]:
            ax.text(j, i, f"{v:.0f}\u2020", ha="center", va="center", fontsize=fontsize, color="#333333")
        elif np.isfinite(v):
            rgba = cmap((v - vmin) / (vmax - vmin) if vmax > vmin else 0.5)
            luminance = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=fontsize, color="black" if luminance > 0.5 else "white")
        else:
            ax.text(j, i, "–", ha="center", va="center", fontsize=fontsize, color="#555555")
    for _, first, _ in col_blocks[1:]:
        ax.axvline(first - 0.5, color="white", linewidth=1.5)
    for _, first, _ in row_blocks[1:]:
        ax.axhline(first - 0.5, color="white", linewidth=1.5)
    ax.set_xticks(range(n_cols), col_labels, rotation=90)
    ax.set_yticks(range(n_rows), row_labels)
    _ticks(ax, length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("dataset")
    ax.set_ylabel("encoder")
    if col_blocks:
        top = ax.secondary_xaxis("top")
        top.set_xticks([(a + b) / 2 for _, a, b in col_blocks], [name for name, _, _ in col_blocks])
        top.tick_params(length=0, labelsize=TICK_SIZE, pad=1)
        top.spines["top"].set_visible(False)
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01, aspect=30)
    bar.set_label(AMI_UNIT, fontsize=LABEL_SIZE)
    bar.ax.tick_params(labelsize=TICK_SIZE, length=2, width=0.5)
    bar.outline.set_linewidth(0.5)
    return fig


# --- 8: example images per cluster -----------------------------------------------------------------

IMAGE_LABEL_SIZE = 5  # pt: each image's true label above it


@_styled
def example_images(grid: Sequence[tuple], title: str = "") -> Figure:
    """A few clusters (rows) x a few of their images (columns), each row titled. A row is (title,
    images) or (title, images, captions): a caption per image (its true label) is written above it."""
    n_rows = max(len(grid), 1)
    n_cols = max((len(row[1]) for row in grid), default=1) or 1
    captioned = any(len(row) > 2 for row in grid)
    cell = min(0.7, (FULL_WIDTH - 1.2) / n_cols)
    width = min(FULL_WIDTH, cell * n_cols + 1.2)
    fig = _figure(width, (cell + (0.12 if captioned else 0)) * n_rows + (0.3 if title else 0.1))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    longest = max(4, int(cell * 72 / (0.6 * IMAGE_LABEL_SIZE)))  # characters that fit over one image
    for r, row in enumerate(grid):
        name, images = row[0], row[1]
        captions = list(row[2]) if len(row) > 2 else []
        for c in range(n_cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(c < len(images))
                spine.set_linewidth(0.4)
            if c < len(images):
                image = np.asarray(images[c])
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
                if c < len(captions):
                    text = str(captions[c])
                    text = text if len(text) <= longest else text[: longest - 1] + "…"
                    ax.set_title(text, fontsize=IMAGE_LABEL_SIZE, pad=1.5)
            if c == 0:
                ax.set_ylabel(
                    textwrap.fill(str(name), 22, break_on_hyphens=False), rotation=0, ha="right", va="center", fontsize=NOTE_SIZE
                )
    if title:
        fig.suptitle(title, fontsize=SUPTITLE_SIZE)
    return fig


@_styled
def contact_sheet(images: Sequence[np.ndarray], title: str, columns: int = 8, gap: int = 4) -> Figure:
    """A grid of thumbnails (HxWx3 uint8 arrays), `columns` per row, each centred in a white tile of the
    largest thumbnail's size with `gap` pixels between tiles, drawn as one image under a title of one or
    more lines; at most 7.2 in wide and 8 in high (a long sheet is drawn smaller)."""
    n = max(len(images), 1)
    cols = min(columns, n)
    rows = -(-n // cols)
    tile = max([max(image.shape[:2]) for image in images] or [1])
    step = tile + gap
    mosaic = np.full((rows * step - gap, cols * step - gap, 3), 255, dtype=np.uint8)
    for k, image in enumerate(images):
        h, w = image.shape[:2]
        top, left = (k // cols) * step + (tile - h) // 2, (k % cols) * step + (tile - w) // 2
        mosaic[top : top + h, left : left + w] = image
    title_height = 0.16 * (title.count("\n") + 1) + 0.1
    cell = min(0.85, (FULL_WIDTH - 0.1) / cols, (8.0 - title_height - 0.1) / rows)
    fig = _figure(cell * cols + 0.1, cell * rows + title_height)
    ax = fig.subplots()
    ax.set_axis_off()
    ax.imshow(mosaic, interpolation="nearest")
    fig.suptitle(title, fontsize=SUPTITLE_SIZE)
    return fig


# --- 9: PCA explained variance ---------------------------------------------------------------------


def pages(items: Sequence, per_page: int) -> list[list]:
    """`items` in pages of at most `per_page`, as even as they go (26 in pages of 16: 13 + 13)."""
    items = list(items)
    n = max(1, int(np.ceil(len(items) / per_page)))
    size = int(np.ceil(len(items) / n)) if items else 0
    return [items[k : k + size] for k in range(0, len(items), size)] if items else [[]]


PCA_PANELS_PER_PAGE = 16  # 4 x 4 panels: a 26-dataset study takes two figures


@_styled
def pca_variance(curves: pd.DataFrame, labels: dict, titles: dict | None = None, relative: bool = False) -> Figure:
    """Cumulative explained variance (%) against the number of PCA components, one panel per dataset;
    with `relative`, against the components as a fraction of the embedding's width (column `width`,
    else the largest n_components of the curve).

    `titles` optionally maps dataset -> panel title."""
    datasets = _ordered(curves["dataset"])
    encoders = _ordered(curves["encoder"])
    info = {e: encoder_info(e, labels) for e in encoders}
    methods = _ordered(info[e]["method"] for e in encoders)
    colours = _method_colours(methods, info)
    archs = _ordered(info[e]["architecture"] for e in encoders if info[e]["training"] != "none")  # raw pixels: its colour
    arch_styles = {a: ["-", "--", "-.", ":"][i % 4] for i, a in enumerate(archs)} | {"raw pixels": "-"}
    fine_tuned = any(info[e]["training"] == "fine-tuned" for e in encoders)
    n_cols = min(4, max(len(datasets), 1))
    n_rows = int(np.ceil(len(datasets) / n_cols)) or 1
    width = FULL_WIDTH if n_cols > 2 else SINGLE_COLUMN
    fig = _figure(width, 1.35 * n_rows + 0.35)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="all", sharey="all")
    scale = 100.0 if np.nanmax(curves["cumulative_variance"].to_numpy(dtype=float), initial=0) <= 1.0 + 1e-9 else 1.0
    lines = {
        key: line.sort_values("n_components", kind="mergesort")
        for key, line in curves.groupby(["dataset", "encoder"], sort=False)
    }
    axes[0, 0].set_xscale("log")  # shared by every panel
    axes[0, 0].xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}"))
    axes[0, 0].set_ylim(0, 100)
    axes[0, 0].set_yticks([0, 50, 100])
    for k, dataset in enumerate(datasets):
        ax = axes[k // n_cols, k % n_cols]
        for level in (80, 90, 95):
            ax.axhline(level, color="#999999", linewidth=0.5, linestyle=(0, (2, 2)))
        for e in encoders:
            line = lines.get((dataset, e))
            if line is None:
                continue
            x = line["n_components"].to_numpy(dtype=float)
            if relative:
                x = x / (float(line["width"].iloc[0]) if "width" in line else x.max())
            ax.plot(
                x,
                scale * line["cumulative_variance"].to_numpy(dtype=float),
                color=colours[info[e]["method"]],
                linestyle=arch_styles[info[e]["architecture"]],
                linewidth=1.4 if info[e]["training"] == "fine-tuned" else 0.8,
                alpha=0.9,
            )
        ax.set_title(_name(dataset, titles), fontsize=TITLE_SIZE)
        _ticks(ax)
        ax.tick_params(axis="x", which="minor", labelbottom=False)
    for k in range(len(datasets), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    for c in range(n_cols):  # x tick labels and label under the lowest panel of every column
        last = max(r for r in range(n_rows) if r * n_cols + c < max(len(datasets), 1))
        axes[last, c].tick_params(axis="x", labelbottom=True)
        axes[last, c].set_xlabel("fraction of dimensions" if relative else "number of components")
    fig.supylabel("cumulative variance (%)", fontsize=LABEL_SIZE)
    handles = [Line2D([], [], color=colours[m], linewidth=1.2, label=m) for m in methods]
    if len(archs) > 1:
        handles += [Line2D([], [], linestyle=arch_styles[a], color="#555555", label=a) for a in archs]
    if fine_tuned:
        handles.append(Line2D([], [], linewidth=1.6, color="#555555", label="fine-tuned [FT] (thick)"))
    handles.append(Line2D([], [], linestyle=(0, (2, 2)), linewidth=0.5, color="#999999", label="80 / 90 / 95 %"))
    _legend_below(fig, handles)
    return fig


# --- 10: 2-D embedding maps ------------------------------------------------------------------------

MAX_LEGEND_CLASSES = 20  # tab20 has 20 distinct colours; beyond, colours repeat and no legend is drawn


def _class_palette(n: int) -> list:
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


@_styled
def embedding_maps(panels: Sequence[tuple[str, pd.DataFrame]], classes: Sequence[str] | None = None, title: str = "") -> Figure:
    """2-D maps (e.g. UMAP) of one dataset, one panel per (title, points) (points: columns x, y, label),
    the samples coloured by their true label, the same colour for a class in every panel; a legend of
    the class names (`classes[label]` for integer labels, else the labels) up to MAX_LEGEND_CLASSES."""
    values = sorted({v for _, points in panels for v in points["label"]}, key=lambda v: (str(type(v)), v))
    names = [_class_label(v, classes) for v in values]
    palette = _class_palette(len(values))
    code = {v: i for i, v in enumerate(values)}
    n = max(len(panels), 1)
    n_cols = n if n <= 3 else 4 if n <= 8 else 5
    n_rows = int(np.ceil(n / n_cols))
    width = SINGLE_COLUMN if n == 1 else FULL_WIDTH
    side = (width - 0.1) / n_cols
    fig = _figure(width, side * n_rows + 0.25 + (0.2 if title else 0))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for k, (name, points) in enumerate(panels):
        ax = axes[k // n_cols, k % n_cols]
        size = float(np.clip(3000 / max(len(points), 1), 0.3, 8)) * (side / SINGLE_COLUMN) ** 2 * 2
        colours = [palette[code[v] % len(palette)] for v in points["label"]]
        ax.scatter(points["x"].to_numpy(), points["y"].to_numpy(), s=size, c=colours, linewidths=0, rasterized=True)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(str(name), fontsize=NOTE_SIZE)
        for spine in ("top", "right"):
            ax.spines[spine].set_visible(True)
        if k % n_cols == 0:
            ax.set_ylabel("UMAP 2", fontsize=NOTE_SIZE, labelpad=1)
        if k + n_cols >= len(panels):  # the lowest panel of its column
            ax.set_xlabel("UMAP 1", fontsize=NOTE_SIZE, labelpad=1)
    for k in range(len(panels), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    if len(values) > MAX_LEGEND_CLASSES:
        title = f"{title}{' ' if title else ''}({len(values)} classes: colours repeat, no legend)"
    if title:
        fig.suptitle(title, fontsize=SUPTITLE_SIZE)
    if 0 < len(values) <= MAX_LEGEND_CLASSES:
        handles = [Patch(color=palette[i], label=name) for i, name in enumerate(names)]
        _legend_below(fig, handles, 10 if width > SINGLE_COLUMN else 5, handlelength=0.8, handletextpad=0.3, columnspacing=0.8)
    return fig


def _class_label(value, classes: Sequence[str] | None) -> str:
    """A label's class name: classes[label] for an integer code, "unlabelled" for -1 (a flat image folder)."""
    if isinstance(value, (int, np.integer)) and classes is not None and 0 <= int(value) < len(classes):
        return str(classes[int(value)])
    return "unlabelled" if isinstance(value, (int, np.integer)) and int(value) == -1 else str(value)


def embedding_map(points: pd.DataFrame, title: str = "") -> Figure:
    """One 2-D map, coloured by true label (`embedding_maps` with one panel)."""
    return embedding_maps([("", points)], title=title)


# --- 12 and 13: the reducers of a grid, and its dimension sweep ----------------------------------------

REDUCER_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "h"]


@_styled
def reducer_ami(
    table: pd.DataFrame, labels: dict, clusterer_labels: dict | None = None, reducer_labels: dict | None = None
) -> Figure:
    """AMI x 100 of each encoder (rows) on each reducer (one marker and colour each), one panel per
    clusterer; `table` as zsc.study.reducer_table returns it. A hollow marker is a mean over fewer
    datasets than its row has (n < n_datasets)."""
    clusterers = _ordered(table["clusterer"])
    reducers = _ordered(table["reducer"])
    encoders = _ordered(table["encoder"])
    info = {e: encoder_info(e, labels) for e in encoders}
    names = [
        (
            f"{info[e]['label']} ({info[e]['architecture']})"
            if info[e]["architecture"] not in ("", "raw pixels")
            else info[e]["label"]
        )
        for e in encoders
    ]
    palette = [c for c in OKABE_ITO if c != "#F0E442"]
    style = {r: (palette[i % len(palette)], REDUCER_MARKERS[i % len(REDUCER_MARKERS)]) for i, r in enumerate(reducers)}
    n_cols = min(3, max(len(clusterers), 1))
    n_rows = int(np.ceil(len(clusterers) / n_cols)) or 1
    row_unit = max(MIN_ROW_UNIT, min(0.16, ((MAX_HEIGHT - 1.0) / n_rows - 0.45) / max(len(encoders), 1)))
    fig = _figure(FULL_WIDTH if n_cols > 1 else SINGLE_COLUMN, n_rows * (row_unit * len(encoders) + 0.45) + 0.3)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="all", sharey="all")
    y_of = {e: i for i, e in enumerate(encoders)}
    shift = {r: 0.5 * (i - (len(reducers) - 1) / 2) / max(len(reducers), 1) for i, r in enumerate(reducers)}  # apart in a row
    finite = table["mean"].to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    lo = float(np.floor((finite.min() - 1) / 5) * 5) if finite.size else 0.0
    hi = float(np.ceil((finite.max() + 1) / 5) * 5) if finite.size else 100.0
    for k, clusterer in enumerate(clusterers):
        ax = axes[k // n_cols, k % n_cols]
        sub = table[table["clusterer"] == clusterer]
        for e, rows in sub.groupby("encoder", sort=False):
            means = rows["mean"].to_numpy(dtype=float)
            if np.isfinite(means).any():
                ax.plot([np.nanmin(means), np.nanmax(means)], [y_of[e]] * 2, color="#BBBBBB", linewidth=0.6, zorder=1)
        for reducer, rows in sub.groupby("reducer", sort=False):
            colour, marker = style[reducer]
            complete = rows["n"] >= rows["n_datasets"]
            for full, part in rows.groupby(complete, sort=False):
                ax.scatter(
                    part["mean"], part["encoder"].map(y_of) + shift[reducer], s=14, marker=marker, zorder=2, linewidths=0.8,
                    facecolors=colour if full else "white", edgecolors=colour,
                )  # fmt: skip
        ax.set_title(_name(clusterer, clusterer_labels), fontsize=TITLE_SIZE)
        ax.set_yticks(range(len(encoders)), names)
        ax.set_ylim(len(encoders) - 0.5, -0.5)
        ax.set_xlim(lo, hi)
        ax.grid(axis="x", color="#E5E5E5", linewidth=0.4)
        ax.set_axisbelow(True)
        _ticks(ax)
        ax.tick_params(axis="y", length=0)
    for k in range(len(clusterers), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    for c in range(n_cols):
        last = max(r for r in range(n_rows) if r * n_cols + c < max(len(clusterers), 1))
        axes[last, c].set_xlabel(f"{AMI_UNIT}, mean over datasets")
        axes[last, c].tick_params(axis="x", labelbottom=True)
    fig.supylabel("encoder", fontsize=LABEL_SIZE)
    handles = [
        Line2D([], [], linestyle="", marker=style[r][1], color=style[r][0], markersize=4, label=_name(r, reducer_labels))
        for r in reducers
    ]
    if (table["n"] < table["n_datasets"]).any():
        handles.append(
            Line2D(
                [], [], linestyle="", marker="o", markerfacecolor="white", color="#555555", markersize=4, label="fewer datasets"
            )
        )
    _legend_below(fig, handles, handletextpad=0.3)
    return fig


@_styled
def reducer_dims(table: pd.DataFrame, reducers: dict, clusterer_labels: dict | None = None) -> Figure:
    """AMI x 100 against the reduced dimensions, one line per reducer family (PCA, UMAP, ...), one panel
    per clusterer: the mean over encoders of each encoder's mean over datasets, ± std over encoders.
    `table` as zsc.study.reducer_table returns it; `reducers` maps reducer -> {"family", "dims"} (those
    without dims are left out). A hollow marker: some encoder's mean leaves datasets out."""
    dims = {r: f for r, f in reducers.items() if f.get("dims")}
    data = table[table["reducer"].isin(list(dims))].copy()
    data["family"] = data["reducer"].map(lambda r: dims[r]["family"])
    data["dims"] = data["reducer"].map(lambda r: dims[r]["dims"])
    data["partial"] = data["n"] < data["n_datasets"]
    clusterers = _ordered(data["clusterer"])
    families = _ordered(data["family"])
    style = {f: (OKABE_ITO[i % 6], REDUCER_MARKERS[i % len(REDUCER_MARKERS)]) for i, f in enumerate(families)}
    n_cols = min(3, max(len(clusterers), 1))
    n_rows = int(np.ceil(len(clusterers) / n_cols)) or 1
    fig = _figure(FULL_WIDTH if n_cols > 1 else SINGLE_COLUMN, 1.7 * n_rows + 0.3)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="all", sharey="all")
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xticks(sorted(set(data["dims"])), [f"{d:g}" for d in sorted(set(data["dims"]))])
    axes[0, 0].xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    dodge = {f: 1.06 ** (i - (len(families) - 1) / 2) for i, f in enumerate(families)}  # error bars side by side
    for k, clusterer in enumerate(clusterers):
        ax = axes[k // n_cols, k % n_cols]
        for family in families:
            rows = data[(data["clusterer"] == clusterer) & (data["family"] == family)]
            line = rows.groupby("dims").agg(mean=("mean", "mean"), std=("mean", "std"), partial=("partial", "any"))
            if line.empty:
                continue
            colour, marker = style[family]
            x = line.index.to_numpy(dtype=float) * dodge[family]
            ax.errorbar(
                x, line["mean"], yerr=line["std"].fillna(0), color=colour, marker="", linewidth=1.0, elinewidth=0.6, capsize=1.5
            )
            for partial, points in line.groupby("partial"):
                ax.scatter(
                    points.index.to_numpy(dtype=float) * dodge[family], points["mean"], marker=marker, s=14, zorder=3,
                    linewidths=0.8, facecolors="white" if partial else colour, edgecolors=colour,
                )  # fmt: skip
        ax.set_title(_name(clusterer, clusterer_labels), fontsize=TITLE_SIZE)
        ax.grid(color="#E5E5E5", linewidth=0.4)
        ax.set_axisbelow(True)
        _ticks(ax)
        if k % n_cols == 0:
            ax.set_ylabel(AMI_UNIT)
    for k in range(len(clusterers), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    for c in range(n_cols):
        last = max(r for r in range(n_rows) if r * n_cols + c < max(len(clusterers), 1))
        axes[last, c].set_xlabel("reduced dimensions")
        axes[last, c].tick_params(axis="x", labelbottom=True)
    handles = [
        Line2D([], [], color=style[f][0], marker=style[f][1], markersize=4, label=f"{f}: mean ± std over encoders")
        for f in families
    ]
    if data["partial"].any():
        handles.append(Line2D([], [], linestyle="", marker="o", markerfacecolor="white", color="#555555", label="fewer datasets"))
    _legend_below(fig, handles, handletextpad=0.3)
    return fig


# --- saving and checking -------------------------------------------------------------------------


# --- 11: scores over a training run's checkpoints ----------------------------------------------------


@_styled
def checkpoint_curves(table: pd.DataFrame, measures: Sequence[str]) -> Figure:
    """Every label-free score and labelled reference (`measures`, columns of `table`:
    zsc.selection.checkpoint_table) over a training run's checkpoints, one panel per measure, one
    line per (dataset, series); x is the checkpoint's step (its label's number), or its position
    in the series where a label has none."""
    measures = [m for m in measures if m in table and table[m].notna().any()]
    table = table.copy()
    table["x"] = table["step"].astype(float)
    for _, rows in table.groupby(["dataset", "series"], sort=False):
        if rows["x"].isna().any():
            table.loc[rows.index, "x"] = np.arange(len(rows), dtype=float)
    lines = list(dict.fromkeys(zip(table["dataset"], table["series"])))
    n_cols = min(4, max(len(measures), 1))
    n_rows = int(np.ceil(len(measures) / n_cols)) or 1
    fig = _figure(FULL_WIDTH if n_cols > 2 else SINGLE_COLUMN, 1.3 * n_rows + 0.3)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="all")
    colours = {line: OKABE_ITO[i % len(OKABE_ITO)] for i, line in enumerate(lines)}
    for k, measure in enumerate(measures):
        ax = axes[k // n_cols, k % n_cols]
        for (dataset, series), rows in table.groupby(["dataset", "series"], sort=False):
            ax.plot(rows["x"], rows[measure], marker="o", markersize=2.5, linewidth=1.0, color=colours[(dataset, series)])
        ax.set_title(measure.replace("_", " "), fontsize=TITLE_SIZE)
        _ticks(ax)
    for k in range(len(measures), n_rows * n_cols):
        axes[k // n_cols, k % n_cols].set_visible(False)
    for c in range(n_cols):
        last = max(r for r in range(n_rows) if r * n_cols + c < max(len(measures), 1))
        axes[last, c].tick_params(axis="x", labelbottom=True)
        # short: four columns share the full width (the caption says the step is the checkpoint label's number)
        axes[last, c].set_xlabel("training step")
    fig.supylabel("score or accuracy (own units)", fontsize=LABEL_SIZE)
    handles = [Line2D([], [], color=colours[line], marker="o", markersize=3, label=f"{line[1]} on {line[0]}") for line in lines]
    _legend_below(fig, handles)
    return fig


# --- a figure with nothing to draw ---------------------------------------------------------------


@_styled
def message_figure(title: str, lines: Sequence[str], width_chars: int = 125) -> Figure:
    """A figure whose only content is text: `title`, then each of `lines` wrapped (an output whose
    runs all failed or were skipped says so where its plot would be)."""
    wrapped = [textwrap.fill(line, width_chars, subsequent_indent="  ") for line in lines]
    n_lines = sum(text.count("\n") + 1 for text in wrapped)
    fig = _figure(FULL_WIDTH, 0.35 + 0.15 * n_lines)
    fig.suptitle(title, x=0.01, ha="left", fontsize=SUPTITLE_SIZE, fontweight="bold")
    fig.text(0.01, 0.98 - 0.3 / fig.get_figheight(), "\n".join(wrapped), ha="left", va="top", fontsize=NOTE_SIZE, linespacing=1.3)
    return fig


# --- 12: the number of clusters chosen without labels ---------------------------------------------


@_styled
def k_selection(curves: pd.DataFrame, true_k: float, labels: dict, title: str = "") -> Figure:
    """One dataset's choice of k (zsc.choose_k): the label-free score against k, one panel per
    encoder, one line per pipeline (colour: clusterer, line style: reducer), the chosen k a filled
    marker on its line; the true number of classes `true_k`, where known (not NaN), a dashed vertical line.

    `curves`: columns encoder, reducer, clusterer, k, score, chosen (bool), criterion; `labels`:
    display names of encoders (facts["encoders"]) and clusterers."""
    encoders = _ordered(curves["encoder"])
    clusterers = _ordered(curves["clusterer"])
    reducers = _ordered(curves["reducer"])
    colours = {c: OKABE_ITO[i % len(OKABE_ITO)] for i, c in enumerate(clusterers)}
    dashes = ["-", (0, (4, 1.5)), (0, (1, 1.2)), (0, (4, 1.5, 1, 1.5)), (0, (8, 2)), (0, (4, 1.5, 1, 1.5, 1, 1.5)), (0, (2, 3))]
    styles = {r: dashes[i % len(dashes)] for i, r in enumerate(reducers)}
    n_cols = min(4, max(len(encoders), 1))
    n_rows = int(np.ceil(len(encoders) / n_cols)) or 1
    fig = _figure(FULL_WIDTH if n_cols > 2 else SINGLE_COLUMN, min(1.4, 6.5 / n_rows) * n_rows + 0.35)
    axes = fig.subplots(n_rows, n_cols, squeeze=False, sharex="all", sharey="all")
    for i, encoder in enumerate(encoders):
        ax = axes[i // n_cols, i % n_cols]
        if np.isfinite(true_k):
            ax.axvline(true_k, color=NEUTRAL, linewidth=0.8, linestyle=(0, (3, 2)))
        for (reducer, clusterer), line in curves[curves["encoder"] == encoder].groupby(["reducer", "clusterer"], sort=False):
            line = line.sort_values("k", kind="mergesort")
            colour = colours[clusterer]
            ax.plot(line["k"], line["score"], color=colour, linestyle=styles[reducer], linewidth=0.9)
            best = line[line["chosen"]]
            ax.plot(best["k"], best["score"], linestyle="", marker="o", markersize=3.5, color=colour)
        ax.set_title(_name(encoder, labels), fontsize=TITLE_SIZE)
        _ticks(ax)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(5, integer=True))
    for i in range(len(encoders), n_rows * n_cols):
        axes[i // n_cols, i % n_cols].set_visible(False)
    for c in range(n_cols):  # x tick labels and label under the lowest panel of every column
        last = max(r for r in range(n_rows) if r * n_cols + c < max(len(encoders), 1))
        axes[last, c].tick_params(axis="x", labelbottom=True)
        axes[last, c].set_xlabel("number of clusters k")
    criteria = _ordered(curves["criterion"])
    names = {"silhouette_umap": "silhouette (UMAP-50 space)", "silhouette_reduced": "silhouette (space clustered)"}
    fig.supylabel(" / ".join(names.get(c, c) for c in criteria), fontsize=LABEL_SIZE)
    if title:
        fig.suptitle(title, fontsize=SUPTITLE_SIZE)
    handles = [Line2D([], [], color=colours[c], label=_name(c, labels)) for c in clusterers]
    if len(reducers) > 1:
        handles += [Line2D([], [], color="#555555", linestyle=styles[r], label=_name(r, labels)) for r in reducers]
    handles.append(Line2D([], [], linestyle="", marker="o", markersize=3.5, color="#555555", label="chosen k"))
    if np.isfinite(true_k):
        handles.append(Line2D([], [], color=NEUTRAL, linewidth=0.8, linestyle=(0, (3, 2)), label="true number of classes"))
    _legend_below(fig, handles)
    return fig


PNG_METADATA = {"Software": "zsc"}
PDF_METADATA = {"CreationDate": None, "ModDate": None, "Producer": "zsc"}


@contextlib.contextmanager
def _layout_restored(fig: Figure):
    """Put the axes and figure texts back where they were before a draw.

    Constrained layout starts from the current positions, so a figure drawn before (at another dpi)
    would lay out a last-digit differently: restoring makes every draw start from the same state,
    and the same figure always gives the same bytes, whatever was drawn before.
    """
    axes = [(ax, ax.get_position(original=True).frozen(), ax.get_position(original=False).frozen()) for ax in _all_axes(fig)]
    texts = [(t, t.get_position()) for t in _all_figure_texts(fig)]
    try:
        yield
    finally:
        for ax, original, active in axes:
            ax._set_position(original, which="original")
            ax._set_position(active, which="active")
        for text, position in texts:
            text.set_position(position)


def _all_axes(fig) -> list:
    out = []
    for ax in fig.axes:
        out.append(ax)
        out.extend(getattr(ax, "child_axes", []))
    for sub in getattr(fig, "subfigs", []):
        out.extend(_all_axes(sub))
    return out


def _all_figure_texts(fig) -> list:
    out = list(fig.texts)
    for name in ("_suptitle", "_supxlabel", "_supylabel"):
        if getattr(fig, name, None) is not None and getattr(fig, name) not in out:
            out.append(getattr(fig, name))
    for sub in getattr(fig, "subfigs", []):
        out.extend(_all_figure_texts(sub))
    return out


def save_figure(fig: Figure, stem: str | os.PathLike, *, dpi: int = 200, pdf: bool = True) -> list[Path]:
    """Write stem.png (dpi 200) and stem.pdf (unless `pdf` is False), without dates: the same figure
    gives the same bytes."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(STYLE):
        for suffix, metadata in ((".png", PNG_METADATA), (".pdf", PDF_METADATA))[: 2 if pdf else 1]:
            path = stem.with_name(stem.name + suffix)
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            try:
                with _layout_restored(fig):
                    fig.savefig(tmp, format=suffix[1:], dpi=dpi, metadata=dict(metadata))
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
            paths.append(path)
    return paths

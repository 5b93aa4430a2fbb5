"""The study's figures (docs/study.md#5-tables-and-figures), each a function returning a matplotlib Figure.

Every `plot_*`-style function takes the frames the analysis computes (zsc.study) and returns a
Figure on the Agg canvas (no pyplot state: nothing to close, nothing shown). `save_figure` writes
stem.png (200 dpi) and stem.pdf with fixed metadata, so the same data gives the same bytes.
Figure sizes grow with the number of panels, rows and labels, so the figures stay readable at the
study's size (26 datasets, 18 encoders, 6 clusterers): the tests draw them and check that no two
texts overlap (tests/figure_text.py).

Style: paper column widths (3.5 in single column, 7.2 in full width), 7-8 pt text (5 pt numbers in heat-map cells), the Okabe-Ito
colour-blind-safe palette, cividis for heat maps, and a purple-orange diverging map where a sign
matters. AMI inputs given as fractions (0-1) are shown in percent; inputs already in percent are
left as they are.
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


def arch_marker(architecture: str) -> str:
    """Marker of an architecture: circle for ResNets, triangle for ViTs, square otherwise."""
    text = str(architecture).lower()
    if "vit" in text:
        return "^"
    if "resnet" in text or "rn" in text:
        return "o"
    return "s"


def _merged_order(sequences: Sequence[Sequence[str]]) -> list[str]:
    """One order of the items of `sequences` that keeps each sequence's own order where they agree
    (topological merge); ties and conflicts go by first appearance."""
    first = {}
    for seq in sequences:
        for item in seq:
            first.setdefault(item, len(first))
    after = {item: set() for item in first}
    for seq in sequences:
        for a, b in zip(seq, seq[1:]):
            if a != b:
                after[b].add(a)
    out, done = [], set()
    while len(out) < len(first):
        ready = [i for i in first if i not in done and after[i] <= done]
        item = min(ready or [i for i in first if i not in done], key=first.get)
        out.append(item)
        done.add(item)
    return out


def _name(key, labels: dict | None) -> str:
    """Display name: labels[key] (a string, or a dict's "label"), else key."""
    given = (labels or {}).get(key)
    if isinstance(given, dict):
        given = given.get("label")
    return str(given) if given else str(key)


def _method_colours(methods: Sequence[str], info: dict | None = None) -> dict[str, str]:
    """A colour per method: random-init methods grey, the others the Okabe-Ito colours in turn."""
    random = {i["method"] for i in (info or {}).values() if i["training"] in ("random", "none")}
    palette = iter(OKABE_ITO * (1 + len(methods) // len(OKABE_ITO)))
    return {m: NEUTRAL if m in random else next(palette) for m in methods}


# --- 1 and 2: bars by domain group x architecture ----------------------------------------------------


@_styled
def delta_by_domain(delta: pd.DataFrame, groups: Sequence[str], encoder_order: Sequence[str], labels: dict) -> Figure:
    """ΔAMI vs the supervised (X-Ent) encoder: mean ± std over each group's datasets, * for p < 0.05."""
    return _bars_by_domain(
        delta,
        value="mean",
        err="std",
        p="p",
        groups=groups,
        encoder_order=encoder_order,
        labels=labels,
        xlabel="ΔAMI vs supervised (p.p.)",
        signed=True,
    )


@_styled
def rank_by_domain(ranks: pd.DataFrame, groups: Sequence[str], encoder_order: Sequence[str], labels: dict) -> Figure:
    """Mean ± std rank of each encoder over each group's datasets, * for Wilcoxon p < 0.05."""
    return _bars_by_domain(
        ranks,
        value="mean_rank",
        err="std_rank",
        p="wilcoxon_p",
        groups=groups,
        encoder_order=encoder_order,
        labels=labels,
        xlabel="mean rank (1 = best)",
        signed=False,
    )


def _bars_by_domain(frame, *, value, err, p, groups, encoder_order, labels, xlabel, signed) -> Figure:
    frame = frame.copy()
    archs = _ordered(frame["architecture"])
    rows = [g for g in groups if g in set(frame["group"])]
    if not rows:
        rows = _ordered(frame["group"])
    encoders = _ordered(frame["encoder"], encoder_order)
    label_of = {e: encoder_info(e, labels)["label"] for e in encoders}
    if "label" in frame and not labels:
        label_of |= dict(zip(frame["encoder"], frame["label"].astype(str)))
    per_arch = {
        a: [label_of[e] for e in encoders if ((frame["architecture"] == a) & (frame["encoder"] == e)).any()] for a in archs
    }
    per_arch = {a: list(dict.fromkeys(v)) for a, v in per_arch.items()}
    union = _merged_order([per_arch[a] for a in archs])
    shared = len(archs) == 1 or len(union) < sum(len(v) for v in per_arch.values())
    positions = {
        a: ({lab: i for i, lab in enumerate(union)} if shared else {lab: i for i, lab in enumerate(per_arch[a])}) for a in archs
    }
    n_slots = max(len(union) if shared else max(len(v) for v in per_arch.values()), 1)

    panel_height = ROW_UNIT * n_slots + 0.15
    height = panel_height * len(rows) + 0.75
    width = FULL_WIDTH if len(archs) > 1 else SINGLE_COLUMN
    fig = _figure(width, height)
    axes = fig.subplots(len(rows), len(archs), squeeze=False, sharex="col", sharey="all" if shared else False)

    values = pd.to_numeric(frame[value], errors="coerce")
    errors = pd.to_numeric(frame[err], errors="coerce").fillna(0) if err in frame else pd.Series(0.0, index=frame.index)
    for c, arch in enumerate(archs):
        in_arch = frame["architecture"] == arch
        lo = np.nanmin(np.r_[0.0, (values - errors)[in_arch].to_numpy(dtype=float)]) if signed else 0.0
        hi = np.nanmax(np.r_[0.0, (values + errors)[in_arch].to_numpy(dtype=float)])
        span = hi - lo if hi > lo else 1.0
        pad = 0.12 * span
        for r, group in enumerate(rows):
            ax = axes[r, c]
            sub = frame[in_arch & (frame["group"] == group)]
            for idx, row in sub.iterrows():
                y = positions[arch].get(label_of.get(row["encoder"], str(row["encoder"])))
                v = values[idx]
                if y is None or not np.isfinite(v):
                    continue
                e = float(errors[idx])
                colour = (POSITIVE if v > 0 else NEGATIVE if v < 0 else NEUTRAL) if signed else SINGLE
                ax.barh(
                    y,
                    v,
                    height=0.7,
                    xerr=e if e > 0 else None,
                    color=colour,
                    error_kw={"elinewidth": 0.6, "capsize": 1.2, "capthick": 0.6, "ecolor": "#333333"},
                )
                if p in sub and pd.notna(row[p]) and float(row[p]) < 0.05:
                    side = -1 if (signed and v < 0) else 1
                    ax.annotate(
                        "*",
                        (v + side * e, y),
                        xytext=(side * 1.5, -1.5),
                        textcoords="offset points",
                        ha="left" if side > 0 else "right",
                        va="center",
                        fontsize=LABEL_SIZE,
                    )
            ax.axvline(0, color="#333333", linewidth=0.6)
            ax.set_xlim(lo - (pad if lo < 0 else 0), hi + pad)
            ax.grid(axis="x", color="#DDDDDD", linewidth=0.4)
            ax.set_axisbelow(True)
            ticks = positions[arch]
            if shared:
                if c == 0 and r == 0:  # shared y: one call sets every panel; inner columns hide their labels
                    ax.set_yticks(range(len(union)), union)
            else:
                ax.set_yticks(list(ticks.values()), list(ticks.keys()))
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


# --- 3: clusterer ranking ------------------------------------------------------------------------


@_styled
def clusterer_ranking(summary: pd.DataFrame, labels: dict | None = None) -> Figure:
    """Mean ± std rank of each clusterer over (encoder, dataset) pairs, best at the top."""
    labels = labels or {}
    summary = summary.sort_values(["mean_rank", "clusterer"], kind="mergesort").reset_index(drop=True)
    k = len(summary)
    fig = _figure(SINGLE_COLUMN, 0.75 + 0.2 * max(k, 1))
    ax = fig.subplots()
    means = pd.to_numeric(summary["mean_rank"], errors="coerce").to_numpy(dtype=float)
    stds = pd.to_numeric(summary.get("std_rank", pd.Series(0.0, index=summary.index)), errors="coerce").fillna(0).to_numpy()
    ax.barh(
        np.arange(k),
        means,
        height=0.65,
        xerr=stds,
        color=SINGLE,
        error_kw={"elinewidth": 0.6, "capsize": 1.5, "capthick": 0.6, "ecolor": "#333333"},
    )
    ax.set_yticks(np.arange(k), [_name(c, labels) for c in summary["clusterer"]])
    ax.set_ylim(k - 0.5, -0.5)
    top = np.nanmax(np.r_[float(k), means + stds]) if k else 1.0
    ax.set_xlim(0, top * 1.05)
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


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(spearmanr(x, y).statistic)


def _rho_text(rho: float, n: int) -> str:
    return f"ρ = {rho:.2f}\nn = {n}" if np.isfinite(rho) else f"ρ = –\nn = {n}"


def _encoder_styles(frame: pd.DataFrame, labels: dict) -> pd.DataFrame:
    """Per row: training (colour) and architecture (marker), from columns when given, else encoder_info."""
    info = {e: encoder_info(e, labels) for e in dict.fromkeys(frame["encoder"])}
    training = frame["training"] if "training" in frame else frame["encoder"].map(lambda e: info[e]["training"])
    architecture = frame["architecture"] if "architecture" in frame else frame["encoder"].map(lambda e: info[e]["architecture"])
    return pd.DataFrame({"training": training.astype(str), "architecture": architecture.astype(str)}, index=frame.index)


@_styled
def silhouette_vs_ami(
    points: pd.DataFrame, clusterers: Sequence[str], labels: dict, clusterer_labels: dict | None = None
) -> Figure:
    """Silhouette of the predicted clusters (x) vs AMI (y): original space (top), UMAP-50 (bottom);
    `labels`: the encoders' (as in encoder_info), `clusterer_labels`: the clusterers' display names."""
    clusterers = [c for c in clusterers if c in set(points["clusterer"])] or _ordered(points["clusterer"])
    spaces = [("silhouette_og", "original space"), ("silhouette_umap", "UMAP-50 space")]
    styles = _encoder_styles(points, labels)
    trainings = _ordered(styles["training"], list(TRAINING_COLOURS))
    archs = _ordered(styles["architecture"])
    spare = iter([c for c in OKABE_ITO if c not in TRAINING_COLOURS.values()] * len(trainings))
    colour = {t: TRAINING_COLOURS.get(t) or next(spare) for t in trainings}
    marker = {a: arch_marker(a) for a in archs}
    ami = pd.Series(_percent(points["AMI"]), index=points.index)

    n_cols = max(len(clusterers), 1)
    width = FULL_WIDTH if n_cols > 2 else SINGLE_COLUMN
    fig = _figure(width, 2 * 1.25 + 0.45)
    axes = fig.subplots(2, n_cols, squeeze=False, sharey="all", sharex="row")
    for r, (column, space) in enumerate(spaces):
        for c, clusterer in enumerate(clusterers):
            ax = axes[r, c]
            rows = points["clusterer"] == clusterer
            x = pd.to_numeric(points.loc[rows, column], errors="coerce") if column in points else pd.Series(dtype=float)
            y = ami[rows]
            keep = np.isfinite(x.to_numpy(dtype=float)) & np.isfinite(y.to_numpy(dtype=float))
            x, y = x[keep], y[keep]
            st = styles.loc[x.index]
            for (t, a), idx in st.groupby(["training", "architecture"], sort=False).groups.items():
                ax.scatter(x[idx], y[idx], s=5, color=colour[t], marker=marker[a], alpha=0.7, linewidths=0, rasterized=True)
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
                ax.set_ylabel("AMI (%)")
            if c == n_cols - 1:
                ax.annotate(
                    space, xy=(1.04, 0.5), xycoords="axes fraction", rotation=-90, ha="left", va="center", fontsize=NOTE_SIZE
                )
    names = {"none": "none (raw pixels)"}
    handles = [
        Line2D([], [], linestyle="", marker="o", color=colour[t], markersize=3.5, label=names.get(t, t)) for t in trainings
    ]
    handles += [Line2D([], [], linestyle="", marker=marker[a], color="#555555", markersize=3.5, label=a) for a in archs]
    _legend_below(fig, handles, handletextpad=0.3)
    return fig


# --- 5: clusterer pairs --------------------------------------------------------------------------


@_styled
def clusterer_pairs(cells: pd.DataFrame, clusterers: Sequence[str], labels: dict | None = None) -> Figure:
    """Pair plot of AMI between clusterers over (encoder, dataset) cells; Spearman ρ above the diagonal."""
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
                ax.hist(wide[ci].dropna(), bins=bins, color=SINGLE, alpha=0.8, linewidth=0)
                ax.set_yticks([])
                ax.spines["left"].set_visible(False)
            else:
                pair = wide[[cj, ci]].dropna()
                ax.plot([low, top], [low, top], color="#777777", linewidth=0.6, linestyle="--")
                ax.scatter(pair[cj], pair[ci], s=3, color=SINGLE, alpha=0.45, linewidths=0, rasterized=True)
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
                ax.set_xlabel(f"{name_j}\nAMI (%)")
            else:
                ax.tick_params(axis="x", labelbottom=False)
            if j == 0 and i > 0:
                ax.set_ylabel(f"{name_i}\nAMI (%)")
            elif j == 0:
                ax.set_ylabel(f"{name_i}\n(histogram)")
            elif i != j:
                ax.tick_params(axis="y", labelleft=False)
    return fig


# --- 6: AMI against taxonomic level ----------------------------------------------------------------


def _line_legend(fig, methods, colours, archs, fine_tuned: bool, ncol_max: int = 6, arch_styles=None):
    handles = [Line2D([], [], color=colours[m], linewidth=1.2, label=m) for m in methods]
    for a in archs:
        if arch_styles is None:
            handles.append(Line2D([], [], linestyle="", marker=arch_marker(a), color="#555555", label=a))
        else:
            handles.append(Line2D([], [], linestyle=arch_styles[a], color="#555555", label=a))
    if fine_tuned:
        handles.append(Line2D([], [], linestyle="--" if arch_styles is None else ":", color="#555555", label="fine-tuned [FT]"))
    _legend_below(fig, handles, ncol_max)


def _level_name(level, levels) -> str:
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
        names = [_level_name(lev, order.index) for lev in order.index]
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.3, len(names) - 0.7)
        ax.set_ylim(0, max(10.0, float(np.ceil(top / 10) * 10)))
        ax.set_title(_name(dataset, titles), fontsize=TITLE_SIZE)
        ax.set_xlabel("taxonomic level")
        if k % n_cols == 0:
            ax.set_ylabel("AMI (%)")
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
def ami_heatmap(avg: pd.DataFrame, *, vmin: float = 0.0, vmax: float = 100.0, title: str = "") -> Figure:
    """Encoders (rows) x datasets (columns) of AMI (%) with the numbers in the cells (cividis).

    A MultiIndex on the rows, (architecture, encoder label), gives labels "label (architecture)" and a
    white line between architectures; on the columns, (group, dataset label), white lines between
    groups and the group names along the top.
    """
    values = avg.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    if avg.index.nlevels > 1:
        row_labels = [f"{r[-1]} ({r[0]})" if str(r[0]) else str(r[-1]) for r in avg.index]
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
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    fontsize = CELL_SIZE if n_cols > 12 else TICK_SIZE
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
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
    bar.set_label("AMI (%)", fontsize=LABEL_SIZE)
    bar.ax.tick_params(labelsize=TICK_SIZE, length=2, width=0.5)
    bar.outline.set_linewidth(0.5)
    return fig


# --- 8: example images per cluster -----------------------------------------------------------------


@_styled
def example_images(grid: Sequence[tuple[str, Sequence[np.ndarray]]], title: str = "") -> Figure:
    """A few clusters (rows) x a few of their images (columns), each row titled."""
    n_rows = max(len(grid), 1)
    n_cols = max((len(images) for _, images in grid), default=1) or 1
    cell = min(0.7, (FULL_WIDTH - 1.2) / n_cols)
    width = min(FULL_WIDTH, cell * n_cols + 1.2)
    fig = _figure(width, cell * n_rows + (0.3 if title else 0.1))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    for r, (name, images) in enumerate(grid):
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


@_styled
def pca_variance(curves: pd.DataFrame, labels: dict, titles: dict | None = None) -> Figure:
    """Cumulative explained variance (%) against the number of PCA components, one panel per dataset.

    `titles` optionally maps dataset -> panel title."""
    datasets = _ordered(curves["dataset"])
    encoders = _ordered(curves["encoder"])
    info = {e: encoder_info(e, labels) for e in encoders}
    methods = _ordered(info[e]["method"] for e in encoders)
    colours = _method_colours(methods, info)
    archs = _ordered((info[e]["architecture"] for e in encoders))
    arch_styles = {a: ["-", "--", "-."][i % 3] for i, a in enumerate(archs)}
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
            ax.plot(
                line["n_components"].to_numpy(dtype=float),
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
        axes[last, c].set_xlabel("number of components")
    fig.supylabel("cumulative explained variance (%)", fontsize=LABEL_SIZE)
    handles = [Line2D([], [], color=colours[m], linewidth=1.2, label=m) for m in methods]
    handles += [Line2D([], [], linestyle=arch_styles[a], color="#555555", label=a) for a in archs]
    if fine_tuned:
        handles.append(Line2D([], [], linewidth=1.6, color="#555555", label="fine-tuned [FT] (thick)"))
    handles.append(Line2D([], [], linestyle=(0, (2, 2)), linewidth=0.5, color="#999999", label="80 / 90 / 95 %"))
    _legend_below(fig, handles)
    return fig


# --- 10: 2-D embedding map -------------------------------------------------------------------------


@_styled
def embedding_map(points: pd.DataFrame, title: str = "") -> Figure:
    """A 2-D map (e.g. UMAP) of the samples coloured by their true label; a legend up to 10 classes."""
    classes = sorted(dict.fromkeys(points["label"]), key=lambda v: (str(type(v)), v))
    if len(classes) <= 10:
        palette = [matplotlib.colormaps["tab10"](i) for i in range(10)]
    else:
        palette = OKABE_ITO
    legend = 0 < len(classes) <= 10
    fig = _figure(SINGLE_COLUMN, 3.2)
    ax = fig.subplots()
    n = max(len(points), 1)
    size = float(np.clip(3000 / n, 0.3, 8))
    codes = {c: i for i, c in enumerate(classes)}
    colours = [palette[codes[c] % len(palette)] for c in points["label"]]
    order = np.arange(len(points))
    ax.scatter(points["x"].to_numpy()[order], points["y"].to_numpy()[order], s=size, c=colours, linewidths=0, rasterized=True)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP 1")
    ax.set_ylabel("UMAP 2")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title, fontsize=TITLE_SIZE)
    if legend:
        handles = [Patch(color=palette[i % len(palette)], label=str(c)) for i, c in enumerate(classes)]
        _legend_below(fig, handles, 5, handlelength=0.8, handletextpad=0.3, columnspacing=0.8)
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

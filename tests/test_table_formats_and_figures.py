"""Tables (zsc.table_formats) and figures (zsc.plots): marks, formats, determinism and readable figures.

The figure tests build inputs of the study's size (18 encoders in 2 architectures, 26 datasets in 5
groups, 6 clusterers) and check each figure with tests/figure_text.py's check_figure: within a page,
no two texts overlapping once drawn, no legend entries drawn alike.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import synthetic
from figure_text import OUTSIDE, check_figure, overlapping_text
from matplotlib.patches import Patch

from zsc import plots, study, table_formats

matplotlib.use("Agg")

# --- study-sized inputs ----------------------------------------------------------------------------

ARCHS = {"rn50": "ResNet-50", "vit": "ViT-B/16"}
METHODS = {
    "rn50": ["X-Ent.", "Rand.", "MoCo-v3", "DINO", "VICReg", "CLIP", "MoCo-v3 [FT]", "DINO [FT]", "VICReg [FT]"],
    "vit": ["X-Ent.", "Rand.", "MoCo-v3", "DINO", "MAE (CLS)", "MAE (avg)", "MoCo-v3 [FT]", "DINO [FT]", "MAE (avg) [FT]"],
}
ENCODERS = {
    f"{arch}_{re.sub(r'[^a-z0-9]+', '_', m.lower()).strip('_')}": (ARCHS[arch], m) for arch in METHODS for m in METHODS[arch]
}
LABELS = {e: m for e, (_, m) in ENCODERS.items()}
GROUP_DATASETS = {
    "In-domain": ["ImageNet-1k", "ImageNet-v2", "CIFAR-10", "CIFAR-100", "ImageNet-9"],
    "Domain-shift": ["IN-9 only-FG", "IN-9 mixed-rand", "ImageNet-R", "ImageNet-Sketch"],
    "Near-OOD": ["ImageNet-O", "LSUN", "Places365"],
    "Fine-grained": ["FGVC-Aircraft", "Stanford Cars", "Oxford Flowers", "BIOSCAN-1M", "NABirds", "iNat-2021"],
    "Far-OOD": ["CelebA", "UTKFace", "BreakHis", "DTD", "EuroSAT", "MNIST", "Fashion-MNIST", "SVHN"],
}
GROUPS = list(GROUP_DATASETS)
DATASETS = [d for ds in GROUP_DATASETS.values() for d in ds]
CLUSTERERS = ["K-Means", "Spectral", "AC w/ C", "AC w/o C", "Affinity Prop.", "HDBSCAN"]


def _rng(seed=0):
    return np.random.default_rng(seed)


def make_delta(seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    rows = []
    for encoder, (arch, label) in ENCODERS.items():
        if label == "X-Ent.":
            continue
        for group in GROUPS:
            mean = rng.normal(-3, 8)
            rows.append(
                dict(architecture=arch, encoder=encoder, group=group, mean=mean, std=abs(rng.normal(4, 2)), n=5)
                | dict(t=rng.normal(), p=float(rng.uniform(0, 0.2)))
            )
    return pd.DataFrame(rows)


def make_ranks(seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    rows = []
    for encoder, (arch, _) in ENCODERS.items():
        for group in GROUPS:
            rows.append(
                dict(architecture=arch, group=group, encoder=encoder, mean_rank=rng.uniform(1, 9), std_rank=rng.uniform(0, 3))
                | dict(n=5, wilcoxon_p=float(rng.uniform(0, 0.3)))
            )
    return pd.DataFrame(rows)


def make_cells(seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    rows = []
    for encoder in ENCODERS:
        for d, dataset in enumerate(DATASETS):
            level = rng.uniform(0.1, 0.8)
            for clusterer in CLUSTERERS:
                ami = float(np.clip(level + rng.normal(0, 0.05), 0, 1))
                missing = clusterer == "Affinity Prop." and dataset in ("ImageNet-1k", "iNat-2021")
                rows.append(
                    dict(encoder=encoder, dataset=dataset, clusterer=clusterer, AMI=np.nan if missing else ami)
                    | dict(silhouette_og=np.nan if missing else 0.05 + 0.2 * ami + rng.normal(0, 0.03))
                    | dict(silhouette_umap=np.nan if missing else 0.1 + 0.5 * ami + rng.normal(0, 0.05))
                )
    return pd.DataFrame(rows)


def make_summary() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clusterer": CLUSTERERS,
            "mean_rank": [2.1, 3.4, 1.6, 4.2, 3.9, 5.8],
            "std_rank": [0.8, 1.1, 0.7, 1.2, 1.3, 0.5],
            "n": 288,
        }
    )


def make_levels(seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    levels = ["label_kingdom", "label_phylum", "label_class", "label_order", "label_family", "label_genus", "label"]
    rows = []
    for dataset in ("iNat-2021", "BIOSCAN-1M"):
        for encoder in ENCODERS:
            base = rng.uniform(5, 35)
            for k, level in enumerate(levels):
                rows.append(dict(dataset=dataset, level=level, level_index=k, encoder=encoder, AMI=base * (0.2 + 0.15 * k)))
    return pd.DataFrame(rows)


def make_avg(seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    values = rng.uniform(0, 100, size=(len(ENCODERS), len(DATASETS)))
    values[3, 5] = np.nan
    return pd.DataFrame(values, index=[LABELS[e] + f" ({ENCODERS[e][0]})" for e in ENCODERS], columns=DATASETS)


def make_grid(seed=0):
    rng = _rng(seed)
    return [
        (
            f"cluster {k} (n = {100 + k}; majority class {k})",
            [rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8) for _ in range(6)],
        )
        for k in range(5)
    ]


def make_curves() -> pd.DataFrame:
    rows = []
    components = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768]
    for d, dataset in enumerate(DATASETS):
        for e, encoder in enumerate(ENCODERS):
            rate = 0.02 + 0.01 * ((d + e) % 7)
            for n in components:
                rows.append(dict(dataset=dataset, encoder=encoder, n_components=n, cumulative_variance=1 - np.exp(-rate * n)))
    return pd.DataFrame(rows)


def make_points(n=3000, classes=10, seed=0) -> pd.DataFrame:
    rng = _rng(seed)
    label = rng.integers(0, classes, size=n)
    centres = rng.normal(0, 5, size=(classes, 2))
    xy = centres[label] + rng.normal(0, 1, size=(n, 2))
    return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "label": [f"class {k}" for k in label]})


def study_figures() -> dict:
    """name -> Figure of every figure function at the study's size."""
    cells = make_cells()
    order = list(ENCODERS)
    curves, pages = make_curves(), plots.pages(DATASETS, plots.PCA_PANELS_PER_PAGE)  # 26 datasets: two figures
    return {
        "delta_by_domain": plots.delta_by_domain(make_delta(), GROUPS, order, LABELS),
        "rank_by_domain": plots.rank_by_domain(make_ranks(), GROUPS, order, LABELS),
        "clusterer_ranking": plots.clusterer_ranking(make_summary(), {}),
        "silhouette_vs_ami": plots.silhouette_vs_ami(cells, CLUSTERERS, LABELS),
        "clusterer_pairs": plots.clusterer_pairs(cells[["encoder", "dataset", "clusterer", "AMI"]], CLUSTERERS),
        "taxonomy_levels": plots.taxonomy_levels(make_levels(), LABELS),
        "ami_heatmap": plots.ami_heatmap(make_avg()),
        "example_images": plots.example_images(make_grid(), "SVHN: MoCo-v3 (ResNet-50), AC w/ C"),
        "pca_variance": plots.pca_variance(curves[curves["dataset"].isin(pages[0])], LABELS),
        "pca_variance_relative": plots.pca_variance(curves[curves["dataset"].isin(pages[-1])], LABELS, relative=True),
        "embedding_map": plots.embedding_map(make_points(), "CIFAR-10: DINO (ViT-B/16), UMAP"),
        "embedding_map_100": plots.embedding_map(make_points(classes=100), "CIFAR-100"),
    }


# --- tables ------------------------------------------------------------------------------------------


@pytest.fixture
def small() -> pd.DataFrame:
    # Per column: best (max) and second best known; the median is the middle value.
    columns = pd.MultiIndex.from_tuples(
        [("Natural", "CIFAR-10"), ("Natural", "iNat-2021"), ("Far-OOD", "MNIST")], names=["group", "dataset"]
    )
    index = pd.Index(["X-Ent.", "MoCo-v3 [FT]", "DINO", "MAE_50%"], name="encoder")
    return pd.DataFrame(
        [[50.2, 10.04, np.nan], [61.7, 30.0, 5.5], [40.0, 20.0, 72.25], [55.4, 25.0, 1.0]], index=index, columns=columns
    )


def _cell(tex: str, row: str) -> list[str]:
    line = next(line for line in tex.splitlines() if line.startswith(row + " &"))
    return [cell.strip() for cell in line.rstrip("\\ ").split("&")[1:]]


def test_latex_marks_best_bold_and_second_underlined(small, tmp_path):
    paths = table_formats.write_table(small, tmp_path / "t", caption="Main table", notes=["AMI x 100.", "50% & more"])
    assert [p.name for p in paths] == ["t.csv", "t.md", "t.tex", "t.html"]
    tex = (tmp_path / "t.tex").read_text()
    assert r"\cellcolor[HTML]{6BAED6} \textbf{62}" in _cell(tex, "MoCo-v3 [FT]")[0]  # column max: bold, full colour
    assert r"\underline{55}" in _cell(tex, r"MAE\_50\%")[0]  # second: underlined
    assert r"\textbf{30}" in _cell(tex, "MoCo-v3 [FT]")[1] and r"\underline{25}" in _cell(tex, r"MAE\_50\%")[1]
    assert r"\textbf{72}" in _cell(tex, "DINO")[2] and r"\underline{6}" in _cell(tex, "MoCo-v3 [FT]")[2]
    assert _cell(tex, "X-Ent.") == ["50", "10", "–"]  # neither, unshaded (at or below the median), NaN as en dash
    assert tex.count(r"\textbf{") == 3 and tex.count(r"\underline{") == 3
    assert r"\multicolumn{2}{c}{Natural}" in tex and r"\toprule" in tex and r"\bottomrule" in tex
    assert r"\caption{Main table}" in tex and r"50\% \& more" in tex


def test_html_marks_and_shades(small, tmp_path):
    table_formats.write_table(small, tmp_path / "t", caption="Main table", notes=["AMI x 100.", "a <note>"])
    page = (tmp_path / "t.html").read_text()

    def style(row, col):  # the CSS rule that names this cell
        rules = re.findall(r"([^{}]+)\{([^}]*)\}", page)
        return " ".join(
            body for selectors, body in rules if f"#T_zsc_row{row}_col{col}" in [s.strip() for s in selectors.split(",")]
        )

    assert "font-weight: bold" in style(1, 0) and "background-color: #6BAED6" in style(1, 0)  # max: bold, full colour
    assert "text-decoration: underline" in style(3, 0)
    assert style(0, 0) == ""  # 50.2 is below the median: not shaded, not marked
    assert "background-color" not in style(3, 2)  # 1.0: below the third column's median (5.5)
    assert "font-weight: bold" in style(2, 2) and "text-decoration: underline" in style(1, 2)
    assert "background-color" not in style(1, 2)  # 5.5 is that column's median: white
    assert "<caption>Main table</caption>" in page and "<li>a &lt;note&gt;</li>" in page
    assert ">–</td>" in page
    assert "<script" not in page and "<link" not in page and 'rel="stylesheet"' not in page


def test_markdown_and_csv(small, tmp_path):
    table_formats.write_table(small, tmp_path / "t", notes=["first note", "second note"], digits=1)
    md = (tmp_path / "t.md").read_text().splitlines()
    assert [c.strip() for c in md[0].split("|")[1:-1]] == [
        "encoder",
        "Natural / CIFAR-10",
        "Natural / iNat-2021",
        "Far-OOD / MNIST",
    ]
    row = next(line for line in md if line.startswith("| X-Ent."))
    assert [c.strip() for c in row.split("|")[1:-1]] == ["X-Ent.", "50.2", "10.0", "–"]
    assert md[-2:] == ["- first note", "- second note"]
    csv = (tmp_path / "t.csv").read_text().splitlines()
    assert csv[0] == "encoder,Natural / CIFAR-10,Natural / iNat-2021,Far-OOD / MNIST"
    assert csv[1] == "X-Ent.,50.2,10.04,"  # full precision, NaN empty
    back = pd.read_csv(tmp_path / "t.csv", index_col=0)
    np.testing.assert_allclose(back.to_numpy(), small.to_numpy())


def test_markdown_carries_the_best_and_second_marks(small, tmp_path):
    table_formats.write_table(small, tmp_path / "t")
    md = (tmp_path / "t.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in md.splitlines()[2:6]}
    assert rows["MoCo-v3 [FT]"] == ["**62**", "**30**", "<u>6</u>"]  # the marks of the LaTeX and HTML tables
    assert rows["MAE_50%"] == ["<u>55</u>", "<u>25</u>", "1"] and rows["DINO"][2] == "**72**"
    assert md.count("**") == 2 * 3 and md.count("<u>") == 3  # three bests, three seconds (no caption given)


def test_incomplete_cells_show_a_dagger_and_are_never_ranked_or_shaded(small, tmp_path):
    flags = pd.DataFrame(False, index=small.index, columns=small.columns)
    flags.iloc[1, 0] = True  # MoCo-v3 [FT]'s 61.7, the column's best, averages fewer datasets than the rest
    table_formats.write_table(small, tmp_path / "t", incomplete=flags)
    tex, md = (tmp_path / "t.tex").read_text(), (tmp_path / "t.md").read_text()
    assert _cell(tex, "MoCo-v3 [FT]")[0] == "62†"  # no bold, no shading
    assert r"\textbf{55}" in _cell(tex, r"MAE\_50\%")[0] and r"\underline{50}" in _cell(tex, "X-Ent.")[0]
    assert "| MoCo-v3 [FT] |" in md and "62†" in md and table_formats.INCOMPLETE_NOTE in md
    assert (tmp_path / "t.csv").read_text().splitlines()[2].startswith("MoCo-v3 [FT],,")  # empty in the CSV
    page = (tmp_path / "t.html").read_text()
    assert "62†" in page and table_formats.INCOMPLETE_NOTE.replace("'", "&#x27;") in page


def test_marks_by_row(tmp_path):
    frame = pd.DataFrame({"none": [40.0, 20.0], "zPCA-50": [45.0, 25.0], "UMAP-50": [60.0, 22.0]}, index=["DINO", "Rand."])
    table_formats.write_table(frame, tmp_path / "r", by="row")
    tex = (tmp_path / "r.tex").read_text()
    assert _cell(tex, "DINO") == [r"40", r"\underline{45}", r"\cellcolor[HTML]{6BAED6} \textbf{60}"]
    assert _cell(tex, "Rand.") == [r"20", r"\cellcolor[HTML]{6BAED6} \textbf{25}", r"\underline{22}"]


def test_min_best_and_no_best(tmp_path):
    frame = pd.DataFrame({"rank": [3.0, 1.0, 2.0, 4.0]}, index=list("abcd"))
    table_formats.write_table(frame, tmp_path / "low", best="min")
    tex = (tmp_path / "low.tex").read_text()
    assert r"\textbf{1}" in _cell(tex, "b")[0] and r"\underline{2}" in _cell(tex, "c")[0]
    table_formats.write_table(frame, tmp_path / "none", best=None, shade=False)
    tex = (tmp_path / "none.tex").read_text()
    assert r"\textbf" not in tex and r"\underline" not in tex and r"\cellcolor" not in tex


def test_text_table_renders_without_marks(tmp_path):
    frame = pd.DataFrame(
        {"kmeans": ["umap50", "zpca90"], "ac_with_c": ["umap50; euclidean/ward", None], "threshold": [0.5, np.nan]},
        index=pd.MultiIndex.from_tuples([("ResNet-50", "X-Ent."), ("ViT-B/16", "DINO")], names=["architecture", "encoder"]),
    )
    paths = table_formats.write_table(frame, tmp_path / "hp", caption="Hyper-parameters")
    tex, page, md = (tmp_path / "hp.tex").read_text(), (tmp_path / "hp.html").read_text(), (tmp_path / "hp.md").read_text()
    assert "umap50; euclidean/ward" in tex and "zpca90" in page and "umap50; euclidean/ward" in md
    assert r"\textbf" not in tex and r"\cellcolor" not in tex and "background-color: #" not in page
    assert "| ViT-B/16       | DINO      | zpca90   | –" in md
    assert (tmp_path / "hp.csv").read_text().splitlines()[2] == "ViT-B/16,DINO,zpca90,,"
    assert len(paths) == 4


def test_colour_frame_diverging(tmp_path):
    pred = pd.DataFrame({"C10": [10.0, 100.0, 1.0], "IN1k": [1000.0, 500.0, np.nan]}, index=["a", "b", "c"])
    true = pd.Series({"C10": 10.0, "IN1k": 1000.0})
    ratio = np.log10(pred / true)
    table_formats.write_table(pred, tmp_path / "k", colour=ratio, best=None)
    page = (tmp_path / "k.html").read_text()
    colours = dict(re.findall(r"#T_zsc_(row\d_col\d)[^{]*\{\s*background-color: #([0-9A-F]{6})", page))
    assert "row2_col1" not in colours  # NaN: no colour
    over, under = colours["row1_col0"], colours["row2_col0"]  # 10x too many / 10x too few: opposite hues
    assert over != under
    r, g, b = (int(over[k : k + 2], 16) for k in (0, 2, 4))
    assert b > r  # purple side for too many
    r, g, b = (int(under[k : k + 2], 16) for k in (0, 2, 4))
    assert r > b  # orange side for too few
    exact = colours.get("row0_col0")  # log ratio 0: the centre of the map, near white
    assert exact is not None and all(int(exact[k : k + 2], 16) > 230 for k in (0, 2, 4))
    tex = (tmp_path / "k.tex").read_text()
    assert tex.count(r"\cellcolor") == 5


def test_tables_are_deterministic(small, tmp_path):
    first = table_formats.write_table(small, tmp_path / "a" / "t", notes=["n"], caption="c")
    again = table_formats.write_table(small, tmp_path / "b" / "t", notes=["n"], caption="c")
    for p, q in zip(first, again):
        assert p.read_bytes() == q.read_bytes(), p.name


# --- figures -----------------------------------------------------------------------------------------


def _has_axis_labels(fig) -> bool:
    xs = [ax.get_xlabel() for ax in fig.axes if ax.get_visible()]
    ys = [ax.get_ylabel() for ax in fig.axes if ax.get_visible()]
    sup_x = fig._supxlabel.get_text() if getattr(fig, "_supxlabel", None) else ""
    sup_y = fig._supylabel.get_text() if getattr(fig, "_supylabel", None) else ""
    return bool(any(xs) or sup_x) and bool(any(ys) or sup_y)


@pytest.fixture(scope="module")
def figures():
    return study_figures()


@pytest.mark.parametrize(
    "name",
    [
        "delta_by_domain",
        "rank_by_domain",
        "clusterer_ranking",
        "silhouette_vs_ami",
        "clusterer_pairs",
        "taxonomy_levels",
        "ami_heatmap",
        "example_images",
        "pca_variance",
        "pca_variance_relative",
        "embedding_map",
        "embedding_map_100",
    ],
)
def test_figure_at_study_size_passes_the_figure_checks(figures, name):
    fig = figures[name]
    assert check_figure(fig) == []  # page size, overlapping text, legend entries drawn alike
    if name != "example_images":  # images have no axes to label, only row titles
        assert _has_axis_labels(fig)


def test_figure_contents(figures):
    delta = figures["delta_by_domain"]
    assert len(delta.axes) == len(GROUPS) * 2
    assert delta.axes[-1].get_xlabel() == "ΔAMI vs supervised (p.p.)"
    resnet, vit = ([t.get_text() for t in ax.get_yticklabels()] for ax in delta.axes[:2])
    assert "MoCo-v3 [FT]" in resnet and "VICReg" in resnet and "MAE (CLS)" not in resnet  # each its own encoders
    assert "MAE (CLS)" in vit and "VICReg" not in vit
    assert "mean rank (1 = best)" in [ax.get_xlabel() for ax in figures["rank_by_domain"].axes]
    scatter = figures["silhouette_vs_ami"]
    notes = [t.get_text() for ax in scatter.axes for t in ax.texts]
    assert len([n for n in notes if n.startswith("ρ = ")]) == 2 * len(CLUSTERERS)
    assert any("n = 468" in n for n in notes)  # 18 encoders x 26 datasets
    assert any("n = 432" in n for n in notes)  # Affinity Prop.: NaN on 2 datasets dropped (468 - 2 x 18)
    heat = figures["ami_heatmap"]
    assert [ax.get_ylabel() for ax in heat.axes][-1] == "AMI × 100"
    taxonomy = figures["taxonomy_levels"]
    ticks = [t.get_text() for t in taxonomy.axes[0].get_xticklabels()]
    assert ticks == ["kingdom", "phylum", "class", "order", "family", "genus", "species"]


def test_random_init_is_drawn_off_axis_with_its_value_written():
    delta = make_delta()
    delta.loc[delta["encoder"] == "rn50_rand", "mean"] = -60.0  # far below every trained encoder
    fig = plots.delta_by_domain(delta, GROUPS, list(ENCODERS), LABELS)
    ax = fig.axes[0]  # ResNet-50, first group
    trained = delta[(delta["architecture"] == "ResNet-50") & (delta["encoder"] != "rn50_rand")]
    assert ax.get_xlim()[0] > -60 and ax.get_xlim()[0] <= (trained["mean"] - trained["std"]).min()
    assert any(t.get_text().startswith("\u221260 ± ") for t in ax.texts)  # −60, its value written


def test_rank_plots_draw_a_mean_with_an_interval_not_bars():
    fig = plots.rank_by_domain(make_ranks(), GROUPS, list(ENCODERS), LABELS)
    assert not any(ax.patches for ax in fig.axes)  # no bars grown from zero
    assert all(ax.get_xlim()[0] == 0.5 for ax in fig.axes)
    ranking = plots.clusterer_ranking(make_summary(), {})
    assert not ranking.axes[0].patches and ranking.axes[0].lines


def test_degenerate_panels_say_so():
    cells = make_cells()
    few = cells[cells["encoder"].isin(["rn50_dino", "vit_dino"]) & cells["dataset"].isin(DATASETS[:2])]  # 4 per clusterer
    texts = [t.get_text() for ax in plots.silhouette_vs_ami(few, CLUSTERERS, LABELS).axes for t in ax.texts]
    notes = [t for t in texts if t.startswith("n = ")]
    assert len(notes) == 2 * len(CLUSTERERS) and all("too few points for ρ" in n.replace("\n", " ") for n in notes)
    assert not any(t.startswith("ρ") for t in texts)
    pairs = plots.clusterer_pairs(few[["encoder", "dataset", "clusterer", "AMI"]], CLUSTERERS)
    texts = [t.get_text() for ax in pairs.axes for t in ax.texts]
    assert sum(t.endswith("too few\nfor a histogram") for t in texts) == len(CLUSTERERS)
    assert not any(ax.patches for ax in pairs.axes)  # no histogram bars
    assert sum(t.endswith("too few\npoints for ρ") for t in texts) == len(CLUSTERERS) * (len(CLUSTERERS) - 1) // 2


def test_embedding_maps_name_the_classes_and_an_unlabelled_folder():
    points = make_points(classes=3).assign(label=lambda p: p["label"].str[-1].astype(int))
    fig = plots.embedding_maps([("DINO (ViT-B/16)", points), ("MAE (CLS) (ViT-B/16)", points)], ["cat", "dog", "owl"], "Pets")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["cat", "dog", "owl"] and check_figure(fig) == []
    flat = plots.embedding_maps([("Raw image", points.assign(label=-1))], [], "my photos")  # no classes: one legend entry
    assert [t.get_text() for t in flat.legends[0].get_texts()] == ["unlabelled"]


@pytest.mark.parametrize("n_images", [3, 48, 200])
def test_contact_sheet_fits_the_page_and_its_title_is_readable(n_images):
    rng = np.random.default_rng(0)
    thumbnails = [rng.integers(0, 255, (int(rng.integers(20, 97)), 96, 3), dtype=np.uint8) for _ in range(n_images)]
    title = "Fash: cluster 3 of 10, 685 images\nraw / umap50 / K-Means\nmajority class: Pullover, purity 38%"
    fig = plots.contact_sheet(thumbnails, title)
    width, height = fig.get_size_inches()
    assert width <= plots.FULL_WIDTH and height <= 8.0  # the figure rules: full width at most, 8 in high at most
    assert overlapping_text(fig) == []
    mosaic = fig.axes[0].get_images()[0].get_array()
    columns = min(8, n_images)
    assert mosaic.shape[1] == columns * 96 + (columns - 1) * 4  # tiles of the largest thumbnail, 4 px apart


def test_heights_grow_with_rows():
    few = plots.delta_by_domain(make_delta()[lambda d: d["encoder"].str.contains("dino")], GROUPS, list(ENCODERS), LABELS)
    many = plots.delta_by_domain(make_delta(), GROUPS, list(ENCODERS), LABELS)
    assert many.get_size_inches()[1] > few.get_size_inches()[1]


# --- the figure checks, each shown failing on a figure broken on purpose ---------------------------------


def test_check_figure_flags_a_figure_larger_than_a_page():
    assert check_figure(plots._figure(plots.FULL_WIDTH, plots.MAX_HEIGHT)) == []
    assert check_figure(plots._figure(8.0, 3.0)) == ["8.00 x 3.00 in: larger than a page's 7.2 x 8.0 in"]
    assert "larger than a page" in check_figure(plots._figure(7.2, 8.5))[0]


def test_check_figure_flags_overlapping_text():
    fig = plots._figure(3.5, 2)
    ax = fig.subplots()
    ax.text(0.5, 0.5, "one long piece of text", transform=ax.transAxes)
    ax.text(0.52, 0.51, "another long piece", transform=ax.transAxes)
    assert check_figure(fig) == ["texts overlap: 'one long piece of text' and 'another long piece'"]


def test_check_figure_flags_a_config_key_where_its_display_name_belongs():
    keys = {"kmeans": "K-Means", "fashionmnist": "Fashion-MNIST", "umap50": "UMAP-50"}
    fig = plots._figure(3.5, 2)
    ax = fig.subplots()
    ax.set_title("fashionmnist / raw / umap50")  # parts of a title count
    ax.set_xticks([0, 1], ["kmeans", "K-Means"])
    assert sorted(check_figure(fig, keys)) == [
        "config key shown: 'fashionmnist'", "config key shown: 'kmeans'", "config key shown: 'umap50'"
    ]  # fmt: skip
    good = plots._figure(3.5, 2)
    good.subplots().set_title("UMAP-50, K-Means (kmeans10)", fontsize=7)  # a key inside a longer name is not one
    assert check_figure(good, keys | {"kmeans10": "K-Means (n_init 10)"}) == ["config key shown: 'kmeans10'"]
    assert check_figure(good, keys) == []


def test_check_figure_flags_legend_entries_drawn_alike():
    fig = plots._figure(3.5, 2)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", marker="o", label="raw pixels")
    ax.plot([0, 1], [1, 0], color="grey", marker="o", label="random init")  # the same look: a reader cannot tell
    ax.plot([0, 1], [1, 1], color="grey", marker="s", label="ViT")
    ax.legend()
    assert check_figure(fig) == ["legend entries drawn alike: 'raw pixels' and 'random init'"]
    handles = [Patch(color="red", label="a"), Patch(color="blue", label="b"), Patch(color="red", label="c")]
    fig.legend(handles=handles)
    assert "legend entries drawn alike: 'a' and 'c'" in check_figure(fig)


def test_overlapping_text_detects_an_overlap():
    fig = plots._figure(3.5, 2)
    ax = fig.subplots()
    ax.set_xlabel("x")
    ax.text(0.5, 0.5, "one long piece of text", transform=ax.transAxes)
    ax.text(0.52, 0.51, "another long piece", transform=ax.transAxes)
    ax.text(0.1, 0.1, "")  # empty: ignored
    pairs = overlapping_text(fig)
    assert ("one long piece of text", "another long piece") in pairs
    fig2 = plots._figure(3.5, 2)
    ax2 = fig2.subplots()
    ax2.text(0.1, 0.1, "apart", transform=ax2.transAxes)
    ax2.text(0.7, 0.8, "far apart", transform=ax2.transAxes)
    assert overlapping_text(fig2) == []


def test_overlapping_text_sees_text_cut_off_at_the_edge():
    fig = plots._figure(2.0, 1.0)
    fig.text(0.9, 0.5, "a label running off the figure")
    assert overlapping_text(fig) == [("a label running off the figure", OUTSIDE)]


def test_overlapping_text_sees_crowded_tick_labels():
    fig = plots._figure(1.5, 1.0)
    ax = fig.subplots()
    ax.set_xticks(range(30), [f"dataset {k}" for k in range(30)])
    assert overlapping_text(fig)


def test_save_figure_is_deterministic(tmp_path, figures):
    fig = figures["clusterer_ranking"]
    first = plots.save_figure(fig, tmp_path / "a" / "rank")
    again = plots.save_figure(plots.clusterer_ranking(make_summary(), {}), tmp_path / "b" / "rank")
    assert [p.name for p in first] == ["rank.png", "rank.pdf"]
    for p, q in zip(first, again):
        assert hashlib.sha256(p.read_bytes()).digest() == hashlib.sha256(q.read_bytes()).digest(), p.name
    pdf = first[1].read_bytes()
    assert b"CreationDate" not in pdf and b"zsc" in pdf
    assert first[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the study's tables from zsc.study's frames of the synthetic study (tests/synthetic.py); the outputs'
# figures at the study's size: tests/test_registries.py


def test_study_tables_render(tmp_path):
    runs, _, facts = synthetic.study_runs()
    avg, _ = study.clusterer_average(runs, facts)
    main = study.main_table(avg, facts)
    pred, true = study.n_clusters_table(runs, facts, "hdbscan")
    tables = {
        "main": (main, {}),
        "hyperparameters": (study.hyperparameter_table(facts), {}),
        "datasets": (study.dataset_table(runs, facts), {}),
        "n_clusters": (pred, {"colour": study.log_ratio(pred, true), "best": None}),
    }
    for name, (frame, options) in tables.items():
        paths = table_formats.write_table(frame, tmp_path / name, notes=["synthetic"], caption=name, **options)
        assert all(p.stat().st_size > 0 for p in paths), name
    tex = (tmp_path / "main.tex").read_text()
    assert tex.count(r"\textbf{") >= main.shape[1]  # a best value in every column
    assert r"\multicolumn{6}{c}{In-domain}" in tex and r"\resizebox" in tex
    assert r"\cellcolor" in (tmp_path / "n_clusters.tex").read_text()
    assert r"\textbf" not in (tmp_path / "hyperparameters.tex").read_text()
    assert "| Fine-grained" in (tmp_path / "datasets.md").read_text()


def render_all(folder: str | Path = "/tmp/figs") -> list[Path]:
    """Write every study-sized figure as PNG/PDF to `folder` (to look at them)."""
    paths = []
    for name, fig in study_figures().items():
        paths += plots.save_figure(fig, Path(folder) / name)
    return paths


if __name__ == "__main__":
    for path in render_all(*sys.argv[1:]):
        print(path)

"""The study's tables and figures: a registry of outputs, each rendered from the result tables.

One rule (`render`, workflow/rules/outputs.smk) renders any entry into results/outputs/<name>/;
adding a table or figure is adding an entry, a function decorated with `output`, to one of the
entry modules below. Every output reads results/tables/*.parquet; only the example images (manifest,
images, one clustering), the PCA spectrum (embeddings), the 2-D maps (their 2-D UMAP reductions) and
the per-image cluster tables and contact sheets (manifests, every run's clusters, images) read more.
Rendering never embeds, reduces or clusters.

- registry: OUTPUTS, the `output` decorator, what a render job has (Data) and the rule's helpers;
- config_facts: what the outputs know of a config (`facts(config)`, computed at parse time);
- index, study, labelfree, clusters: the entries: the outputs' index, the study's tables and figures
  (with zsc.study's numbers, zsc.table_formats' tables and zsc.plots' figures), the label-free answers
  (the recommended pipeline, score validation), each image's cluster (tables and contact sheets).
  They are imported here, in this order (the registry's order), so importing zsc.outputs
  registers every entry.
"""

# The entry modules, in the registry's order (the order of `python -m zsc list outputs` and the index).
from . import index, study, labelfree, clusters
from .config_facts import clusterer_label, facts
from .registry import (
    DATA_TABLES,
    OUTPUTS,
    Data,
    caption,
    display_clusterer,
    display_keys,
    display_reducer,
    inputs,
    list_lines,
    output,
    pipeline_sentence,
    produced,
    render,
)

__all__ = [
    "DATA_TABLES",
    "OUTPUTS",
    "Data",
    "caption",
    "clusterer_label",
    "display_clusterer",
    "display_keys",
    "display_reducer",
    "clusters",
    "facts",
    "index",
    "inputs",
    "labelfree",
    "list_lines",
    "output",
    "pipeline_sentence",
    "produced",
    "render",
    "study",
]

"""The workflow's shared vocabulary: names that every layer uses (docs/architecture.md).

A leaf: this module imports nothing from the package, so any module may import it. What belongs to
one registry entry (a dataset's short label, a clusterer's display name, an encoder's label) is
declared in the entry itself; here are only the names that are no entry's: the keys of a run, the
study's domain groups, how an encoder can be trained, architecture names, and the workflow's own
reductions (the silhouettes' shared UMAP-50 space and the 2-D maps' UMAP).
"""

# What makes one run: a clusterer on a reduction of a dataset's split embedded by an encoder, per seed.
RUN_KEYS = ("dataset", "split", "encoder", "reducer", "clusterer", "seed")

# The study's five domain groups of test datasets, in its order (docs/study.md#2-datasets); datasets
# outside them are in "Search" (the search datasets) or "Other".
STUDY_GROUPS = ("In-domain", "Domain-shift", "Near-OOD", "Fine-grained", "Far-OOD")

# How an encoder was trained; `supervised` makes it the reference of its architecture.
TRAINING = ("supervised", "self-supervised", "fine-tuned", "random", "none", "unknown")

# Architecture names of the models' names ("library:model" without the library and the tag).
ARCHITECTURES = {"resnet50": "ResNet-50", "vit_b_16": "ViT-B/16", "vit_base_patch16_224": "ViT-B/16"}

# The silhouettes' shared UMAP-50 space (the study's U50): a reducer of the config equal to this is
# used, else the workflow adds its own reduction under UMAP_SPACE_NAME.
UMAP_SPACE = {"type": "umap", "n_components": 50, "n_neighbors": 30, "min_dist": 0.0, "metric": "euclidean"}
UMAP_SPACE_NAME = "umap_space"

# The 2-D UMAP of each embeddings behind the embedding maps (a reduction of the reduce stage).
MAP_REDUCER = "umap_2d"
MAP_SPACE = {"type": "umap", "n_components": 2, "n_neighbors": 30, "min_dist": 0.1, "metric": "euclidean"}

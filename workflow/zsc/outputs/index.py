"""The outputs' index: every output the workflow can render, and whether this config rendered it."""

from __future__ import annotations

from pathlib import Path

from .registry import DATA_TABLES, OUTPUTS, Data, always, empty_reason, output, write


@output(
    "outputs_index",
    "table",
    "Every output the workflow can render: whether this config produced it (yes; empty: its runs all failed or were "
    "skipped), and if not, why.",
    "nothing",
    always,
    reads=DATA_TABLES,  # whether each output is empty (empty_reason)
    results=(),
)
def outputs_index(data: Data, out: Path):
    import pandas as pd

    rows = []
    for e in OUTPUTS:
        why = data.facts["not_produced"].get(e.name) or (e.name != "outputs_index" and empty_reason(e.name, data))
        produced = "no" if e.name in data.facts["not_produced"] else "empty" if why else "yes"
        rows.append(
            {"output": e.name, "kind": e.info["kind"], "produced": produced, "why not": why or "", "caption": e.description}
        )
    write(pd.DataFrame(rows), out, "outputs_index", best=None, shade=False)
    if data.facts["left_out"]:
        left_out = pd.DataFrame(data.facts["left_out"], columns=["encoder", "runs", "why"]).astype({"runs": "Int64"})
        caption = "Encoders left out of this config's runs (if_missing: skip), with the reason and the runs they would have had"
        write(left_out, out, "left_out", best=None, shade=False, caption=caption)

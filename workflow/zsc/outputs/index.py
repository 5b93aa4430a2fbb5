"""The outputs' index: every output the workflow can render, and whether this config rendered it."""

from __future__ import annotations

from pathlib import Path

from .registry import OUTPUTS, Data, always, output, write


@output(
    "outputs_index",
    "table",
    "Every output the workflow can render: whether this config produced it, and if not, why.",
    "nothing",
    always,
    reads=(),
)
def outputs_index(data: Data, out: Path):
    import pandas as pd

    rows = [
        {
            "output": e.name,
            "kind": e.info["kind"],
            "produced": "no" if e.name in data.facts["not_produced"] else "yes",
            "why not": data.facts["not_produced"].get(e.name, ""),
            "caption": e.description,
        }
        for e in OUTPUTS
    ]
    write(pd.DataFrame(rows), out, "outputs_index", best=None, shade=False)
    if data.facts["left_out"]:
        left_out = pd.DataFrame(data.facts["left_out"], columns=["encoder", "runs", "why"]).astype({"runs": "Int64"})
        caption = "Encoders left out of this config's runs (if_missing: skip), with the reason and the runs they would have had"
        write(left_out, out, "left_out", best=None, shade=False, caption=caption)

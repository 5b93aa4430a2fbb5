"""Rule figures: every figure from results/tables/runs.parquet alone (zsc.figures)."""
import pandas as pd

from zsc.figures import ami_heatmap
from zsc.logs import run_logged

run_logged(snakemake.log[0], ami_heatmap, runs=pd.read_parquet(snakemake.input.runs), out_paths=list(snakemake.output))

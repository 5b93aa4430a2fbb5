# The study's tables and figures (zsc.outputs, `python -m zsc list outputs`): one render job per
# registered output that the config can provide, reading the result tables (and, for a few
# figures, embeddings, 2-D maps or one clustering); never embedding, reducing or clustering.
# `snakemake figures` renders them all; `snakemake figures --forcerun render` renders them again.
localrules:
    render,
    figures,


rule render:
    input:
        unpack(output_inputs),
    output:
        report(
            directory(zsc.dag.OUTPUT_DIR),
            patterns=["{file}.png", "{file}.html", "assignments_{file}.csv"],  # an image folder's file -> cluster table too
            caption="../report/output.rst",
            category=output_category,
            labels=output_labels,
        ),
    log:
        log_file("render"),
    retries: 0  # local and deterministic: a profile's retries are for SLURM jobs killed for memory or time
    conda:
        "../../envs/report.yaml"
    params:
        caption=lambda wildcards: zsc.outputs.caption(wildcards.name, OUTPUT_FACTS),
        facts=OUTPUT_FACTS,
    script:
        "../scripts/render.py"


rule figures:
    input:
        OUTPUT_DIRS,

localrules:
    figures,


rule figures:
    input:
        runs=TABLES["runs"],
    output:
        report(FIGURES[0], caption="../report/ami_heatmap.rst", category="Figures"),
        FIGURES[1],
    log:
        "results/logs/figures.log",
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figures.py"

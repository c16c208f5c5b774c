rule table3:
    input:
        summaries=noise_summaries(),
        metadata=prepared_metadata(),
    output:
        md="results/tables/table3.md",
        csv="results/tables/table3.csv",
        tex="results/tables/table3.tex",
    log:
        "results/logs/tables/table3.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/table3.py"


rule noise_examples_figure:
    input:
        summaries=noise_summaries(),
        metadata=prepared_metadata(),
    output:
        "results/figures/noise_examples.png",
    params:
        noise_dirs=noise_dirs_by_dataset(),
    log:
        "results/logs/figures/noise_examples.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/noise_examples.py"


rule method_table:
    input:
        table_runs,
    output:
        md="results/tables/{table}.md",
        csv="results/tables/{table}.csv",
        tex="results/tables/{table}.tex",
    params:
        experiment=lambda wildcards: config["experiments"][wildcards.table],
    log:
        "results/logs/tables/{table}.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/method_table.py"

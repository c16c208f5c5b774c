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


rule tau_search_report:
    input:
        epochs=tau_search_epochs(),
        noise_summary=tau_search_noise_summary(),
    output:
        png="results/figures/tau_search.png",
        md="results/tables/tau_search.md",
        csv="results/tables/tau_search.csv",
        tex="results/tables/tau_search.tex",
    params:
        search=config.get("tau_search", {}),
    log:
        "results/logs/tables/tau_search.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/tau_search.py"

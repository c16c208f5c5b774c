rule table3:
    input:
        summaries=noise_summaries(),
        metadata=prepared_metadata(),
    output:
        md="results/tables/table3.md",
        csv=report("results/tables/table3.csv", caption="../report/table3.rst", category="Noise"),
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
        report("results/figures/noise_examples.png", caption="../report/noise_examples.rst", category="Noise"),
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
        csv=report("results/tables/{table}.csv", caption="../report/method_table.rst", category="Methods"),
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
        png=report("results/figures/tau_search.png", caption="../report/tau_search.rst", category="Tau search"),
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


rule paired_table:
    input:
        table_per_image,
    output:
        md="results/tables/{table}_paired.md",
        csv=report("results/tables/{table}_paired.csv", caption="../report/paired_table.rst", category="Statistics"),
        tex="results/tables/{table}_paired.tex",
    params:
        references=lambda wildcards: config["experiments"][wildcards.table].get("compare_against", []),
    log:
        "results/logs/tables/{table}_paired.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/paired_table.py"


rule cost_table:
    input:
        lambda wildcards: [str(path) for path in experiment_runs(config, "table4")],
    output:
        md="results/tables/table10.md",
        csv=report("results/tables/table10.csv", caption="../report/cost_table.rst", category="Methods"),
        tex="results/tables/table10.tex",
    params:
        experiment=config["experiments"].get("table4", {}),
    log:
        "results/logs/tables/table10.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/cost_table.py"


rule reproduction_summary:
    input:
        compared_tables(),
    output:
        md="results/tables/reproduction_summary.md",
        csv=report("results/tables/reproduction_summary.csv", caption="../report/reproduction.rst",
                   category="Summary"),
        tex="results/tables/reproduction_summary.tex",
    log:
        "results/logs/tables/reproduction_summary.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/reproduction_summary.py"

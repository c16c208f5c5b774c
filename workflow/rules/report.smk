rule table3:
    input:
        summaries=noise_summaries(),
        metadata=prepared_metadata(),
    output:
        md="results/tables/table3.md",
        csv=report("results/tables/table3.csv", caption="../report/table3.rst", category="Noise"),
        tex="results/tables/table3.tex",
    params:
        paper_data_sets=paper_data_sets(config),
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
        runs=run_description,
        experiment=lambda wildcards: config["experiments"][wildcards.table],
        paper_data_sets=paper_data_sets(config),
        not_run=unavailable_variants(config),
    log:
        "results/logs/tables/{table}.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/method_table.py"


rule tau_search_report:
    input:
        epochs=tau_search_epochs(),
        summaries=tau_search_summaries(),
        noise_summary=tau_search_noise_summary(),
    output:
        png=report("results/figures/tau_search.png", caption="../report/tau_search.rst", category="Tau search"),
        pdf="results/figures/tau_search.pdf",
        sensitivity_png=report(
            "results/figures/tau_sensitivity.png", caption="../report/tau_sensitivity.rst", category="Tau search"
        ),
        sensitivity_pdf="results/figures/tau_sensitivity.pdf",
        md="results/tables/tau_search.md",
        csv="results/tables/tau_search.csv",
        tex="results/tables/tau_search.tex",
    params:
        runs=run_description,
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
        csv=report("results/tables/{table}_paired.csv", caption="../report/paired_table.rst", category="Comparisons"),
        tex="results/tables/{table}_paired.tex",
    params:
        runs=run_description,
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
        runs=run_description,
        experiment=config["experiments"].get("table4", {}),
        paper_data_sets=paper_data_sets(config),
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


rule table6:
    input:
        multi_rater_table_runs(),
    output:
        md="results/tables/table6.md",
        csv=report("results/tables/table6.csv", caption="../report/table6.rst", category="Multi-rater"),
        tex="results/tables/table6.tex",
    params:
        runs=run_description,
        experiment=config["experiments"].get(MULTI_RATER_TABLE, {}),
        setting_specs=lambda wildcards: {
            setting: config["noise_settings"][setting]
            for setting in config["experiments"][MULTI_RATER_TABLE]["settings"]
        },
        paper_data_sets=paper_data_sets(config),
    log:
        "results/logs/tables/table6.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/table6.py"


rule rater_agreement:
    input:
        rater_agreement_inputs(),
    output:
        png=report("results/figures/rater_agreement.png", caption="../report/rater_agreement.rst",
                   category="Multi-rater"),
        pdf="results/figures/rater_agreement.pdf",
        csv="results/tables/rater_agreement.csv",
    log:
        "results/logs/figures/rater_agreement.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/rater_agreement.py"


rule annotation_ratio_table:
    input:
        annotation_ratio_runs(),
    output:
        md="results/tables/table9.md",
        csv=report("results/tables/table9.csv", caption="../report/annotation_ratio.rst", category="Methods"),
        tex="results/tables/table9.tex",
    params:
        runs=run_description,
        cells=annotation_ratio_cells(config),
        paper_variant=annotation_ratio_paper_variant(),
        paper_data_sets=paper_data_sets(config),
    log:
        "results/logs/tables/table9.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/annotation_ratio_table.py"


rule boundary_table:
    input:
        unpack(boundary_inputs),
    output:
        md="results/tables/{table}_boundary.md",
        csv=report("results/tables/{table}_boundary.csv", caption="../report/boundary_table.rst", category="Comparisons"),
        tex="results/tables/{table}_boundary.tex",
    params:
        runs=run_description,
        variants=lambda wildcards: config["experiments"][wildcards.table]["variants"],
    log:
        "results/logs/tables/{table}_boundary.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/boundary_table.py"


rule noise_sweep_report:
    input:
        runs=noise_sweep_inputs()["runs"],
        noise=noise_sweep_inputs()["noise"],
    output:
        png=report("results/figures/noise_sweep.png", caption="../report/noise_sweep.rst", category="Noise sweep"),
        pdf="results/figures/noise_sweep.pdf",
        md="results/tables/noise_sweep.md",
        csv=report("results/tables/noise_sweep.csv", caption="../report/noise_sweep.rst", category="Noise sweep"),
        tex="results/tables/noise_sweep.tex",
    params:
        runs=run_description,
        sweep=config.get("noise_sweep", {}),
        settings=[setting for _, setting in noise_sweep_points(config)],
    log:
        "results/logs/figures/noise_sweep.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/noise_sweep.py"


rule qualitative_figure:
    input:
        unpack(qualitative_inputs),
    output:
        png=report(
            "results/figures/qualitative_{dataset}.png", caption="../report/qualitative.rst", category="Predictions"
        ),
        pdf="results/figures/qualitative_{dataset}.pdf",
    params:
        runs=run_description,
        figure=qualitative_parameters,
    log:
        "results/logs/figures/qualitative_{dataset}.log",
    conda:
        "../../envs/environment.yaml"
    script:
        "../scripts/qualitative_figure.py"

# Noisy-label medical image segmentation benchmark: GSD-Net and its baselines under one protocol.
# data sets -> label noise (+ superpixels, distance maps) -> training -> protocol scores -> tables and figures.
import os

from snakemake.utils import min_version

min_version("9.0")


configfile: os.path.join(workflow.basedir, "config", "config.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/noise.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


# Every table and figure; their training runs are built first when missing (rebuild: `snakemake tables`).
rule tables:
    input:
        noise_outputs(),
        method_table_outputs(),
        tau_search_outputs(),
        report_axis_outputs(),
        multi_rater_outputs(),
        summary_outputs(),


rule all:
    input:
        rules.tables.input,
    default_target: True


# The prepared form of every data set of the run (results/prepared/{dataset}/), nothing else.
rule prepare:
    input:
        prepared_metadata(),


# Table 3 and the noise figure only: no training.
rule noise_report:
    input:
        noise_outputs(),

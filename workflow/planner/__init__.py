"""The workflow's planner: what the DAG builds (:mod:`workflow.planner.targets`) and the config checks that run
before the first job (:mod:`workflow.planner.checks`).

Snakemake's ``workflow/rules/common.smk`` calls these functions; they are plain Python so they are unit-tested.
"""

# drol: regenerate the DROL paper's tables and figures. `snakemake --cores all` runs the demo config;
# `snakemake --cores all --configfile workflow/config/paper.yaml` the paper's grid.
from pathlib import Path

from snakemake.utils import min_version

from drol.workflow import validate_config

min_version("9.0")


# The demo is the default; a --configfile replaces it rather than merging into it.
if not config:

    configfile: "workflow/config/demo.yaml"



# The schema's method labels come from the method registry (drol.methods), so it is checked in Python.
try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ValueError as err:
    raise WorkflowError(f"config: {err}") from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/results.smk"
include: "workflow/rules/reports.smk"


report: "workflow/report/workflow.rst"


rule all:
    input:
        "results.duckdb",
        rules.tables.output,
        expand("reports/{figure}.{ext}", figure=report_figures(), ext=["png", "pdf"]),

# drol: regenerate the DROL paper's tables and figures. `snakemake --cores all` runs the demo config;
# `snakemake --cores all --configfile workflow/config/paper.yaml` the paper's grid.
import os
from pathlib import Path

from snakemake.utils import min_version

from drol.workflow import reports_message, validate_config

min_version("9.0")


# The demo is the default; a --configfile replaces it rather than merging into it.
if not config:

    configfile: "workflow/config/demo.yaml"



# The schema's method labels come from the method registry (drol.methods), so it is checked in Python.
try:
    validate_config(config, Path(workflow.basedir) / "workflow/schemas/config.schema.yaml")
except ValueError as err:
    raise WorkflowError(f"config: {err}") from None

# What runs keep when they end (schema: checkpoints) is no hyperparameter: `drol train` takes it from the
# environment its jobs inherit (cluster jobs re-read this file), not from a param, so changing it retrains nothing.
os.environ.update(DROL_CHECKPOINTS=config["checkpoints"])


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
        [getattr(rules, f"figure_{stem}").output for stem in FIGURE_FILES],


# After a successful run (not a dry run): where the reports are, and the command for report.html.
onsuccess:
    print(reports_message(rules.all.input, workflow.overwrite_configfiles))

"""ODE–SDE gap benchmark: data -> training (per FP weight and seed) -> ODE and SDE sampling ->
evaluation -> tables, figures and the HTML report. See README.md."""

import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

sys.path.insert(0, str(Path(workflow.basedir) / "workflow_scripts"))
from odesdegap.config import SCHEMA_PATH, ConfigError, checked  # noqa: E402


configfile: "config.yaml"


# Stop before any job with one readable line per problem; then let Snakemake's own validator
# see the (now complete) config, so the schema is enforced through snakemake.utils.validate.
try:
    _checked = checked(config)
except ConfigError as error:
    sys.exit(f"Error: {error}")
config.clear()
config.update(_checked)
validate(config, str(SCHEMA_PATH))


report: "rules/captions/workflow.rst"


# With published.checkpoints_dir set, the models are the authors' (imported), not trained.
PUBLISHED = config["published"]["checkpoints_dir"] is not None
HISTOGRAMS = PUBLISHED and config["published"]["histograms_dir"] is not None


include: "rules/common.smk"
include: "rules/data.smk"


if not PUBLISHED:

    include: "rules/train.smk"


include: "rules/sample.smk"
include: "rules/evaluate.smk"
include: "rules/images.smk"
include: "rules/report.smk"
include: "rules/studies.smk"


if PUBLISHED:

    include: "rules/published.smk"


rule all:
    default_target: True
    input:
        rules.tables.output,
        rules.findings.output,
        rules.figure_metrics.output,
        [] if PUBLISHED else rules.figure_training_curves.output,
        rules.published_comparison.output if HISTOGRAMS else [],
        expand(rules.figure_densities.output.figure, dataset=POINT_DATASETS),
        expand(rules.figure_sample_grids.output.figure, dataset=IMAGE_DATASETS),
        rules.fid_table.output if IMAGE_DATASETS else [],
        rules.benchmark_table.output,
        rules.eta_table.output if ETAS else [],
        rules.sampler_table.output if SAMPLER_STUDY["steps"] else [],

"""ODE–SDE gap benchmark. The workflow is workflow/Snakefile (where the Snakemake workflow
catalog expects it); this file lets `snakemake` run from the repository's root as before.
"""

# Not the `include:` directive: it would drop the included file's default target (`all`).
workflow.include("workflow/Snakefile", overwrite_default_target=True)

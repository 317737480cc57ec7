"""ODE–SDE gap benchmark. The workflow is workflow/Snakefile (where the Snakemake workflow
catalog expects it); this file lets `snakemake` run from the repository's root as before.
"""


include: "workflow/Snakefile"

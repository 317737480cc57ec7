"""odesdegap: the library behind the ODE–SDE gap workflow. It knows nothing of Snakemake:
entry scripts in workflow_scripts/ read the rule's inputs and params and call it."""

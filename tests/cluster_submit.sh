#!/usr/bin/env bash
# Stand-in for sbatch in the executor-plugin test: snakemake-executor-plugin-cluster-generic
# appends the job script; run it here, synchronously, and print a job id as a scheduler would.
set -u
jobscript="${!#}"
bash "$jobscript" >/dev/null 2>&1
echo "local-$$"

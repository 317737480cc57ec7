"""Rule prepare_data: draw the training set and the held-out reference set of one data set."""

from odesdegap import artifacts, datasets

params = snakemake.params  # noqa: F821 (injected by Snakemake)
name = snakemake.wildcards.dataset  # noqa: F821
train_seed, reference_seed = datasets.dataset_seeds(name, params.seed)
train = datasets.sample_dataset(name, params.n_train, train_seed)
reference = datasets.sample_dataset(name, params.n_reference, reference_seed)
artifacts.save_arrays(snakemake.output.data, train=train, reference=reference)  # noqa: F821
artifacts.write_json(snakemake.output.meta, {  # noqa: F821
    "dataset": name,
    "n_train": len(train),
    "n_reference": len(reference),
    "train_seed": train_seed,
    "reference_seed": reference_seed,
    "versions": artifacts.environment_versions(),
})

"""Rule prepare_data: the training set and the held-out reference set of one data set (point
clouds drawn from their generators; images loaded, flattened to [-1, 1], with their labels)."""

from odesdegap import runtime, seeds
from odesdegap.data import datasets, images
from odesdegap.io import artifacts

sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
params = sm.params
name = sm.wildcards.dataset
train_seed, reference_seed = seeds.dataset_seeds(name, params.seed)
if datasets.image_shape(name) is not None:
    # Where the files live and whether they may be downloaded change no result: config, not
    # params, so that moving the folder reruns nothing.
    data = sm.config["data"]
    with runtime.stopping_on(images.DatasetUnavailable):
        arrays = images.load_image_dataset(
            name, params.n_train, params.n_reference, train_seed, data["root"], data["download"])
else:
    arrays = datasets.point_draws(name, params.n_train, params.n_reference, params.seed)
artifacts.save_arrays(sm.output.data, **arrays)
artifacts.write_json(sm.output.meta, {
    "dataset": name,
    "n_train": len(arrays["train"]),
    "n_reference": len(arrays["reference"]),
    "image_shape": datasets.image_shape(name),
    "train_seed": train_seed,
    "reference_seed": reference_seed,
    "versions": artifacts.environment_versions(),
})
print(f"{name}: {len(arrays['train'])} training and {len(arrays['reference'])} held-out points "
      f"(seeds {train_seed}, {reference_seed}) -> {sm.output.data}")

"""Rule train_classifier: the CNN whose penultimate features are the offline FID extractor of one
image data set, with its accuracy on the held-out images."""

import pandas as pd

from odesdegap import runtime
from odesdegap.evaluation import classifier
from odesdegap.io import artifacts
from odesdegap.settings import ClassifierSettings

sm, device = runtime.job(snakemake)  # noqa: F821 (injected by Snakemake)
arrays = artifacts.load_arrays(sm.input.data)
shape = tuple(sm.params.image_shape)
settings = ClassifierSettings.from_config(sm.params.classifier, "classifier")
model, history = classifier.train_classifier(arrays["train"], arrays["train_labels"], shape,
                                             settings, device)
test_accuracy = classifier.accuracy(model, arrays["reference"], arrays["reference_labels"],
                                    shape, device)
print(f"held-out accuracy {test_accuracy:.4f} after {settings.epochs} epochs")
classifier.save_classifier(sm.output.model, model)
with artifacts.atomic_path(sm.output.history) as tmp:
    pd.DataFrame(history).to_csv(tmp, index=False)
artifacts.write_json(sm.output.meta, {
    "dataset": sm.wildcards.dataset,
    "test_accuracy": test_accuracy,
    "train_accuracy": history[-1]["accuracy"],
    "n_train": len(arrays["train"]),
    "n_test": len(arrays["reference"]),
    "settings": settings.as_dict(),
    "device": str(device),
    "versions": artifacts.environment_versions(),
})

"""A small CNN classifier trained on the image data set: the offline, domain-specific feature
extractor for FID.

Inception features (FID's usual choice) need a downloaded network and mean little on 8x8 or
32x32 images that Inception never saw; a classifier trained on the data itself gives features
that separate exactly the classes the data holds, runs anywhere, and is cheap. Its penultimate
layer is the feature vector, as Inception's pool layer is for the standard FID.

Images arrive flat, (n, C*H*W) row-major for `image_shape` (C, H, W), with values in [-1, 1].
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from odesdegap.io import weights
from odesdegap.settings import ClassifierSettings


def _as_images(images_flat, image_shape, device) -> torch.Tensor:
    """(n, D) floats -> (n, C, H, W) float32 tensor on `device`."""
    images = torch.as_tensor(np.asarray(images_flat, dtype=np.float32), device=device)
    return images.reshape(-1, *image_shape)


class ImageClassifier(nn.Module):
    """Conv stem, stride-2 stages down to about 4x4, global average pool, a linear "feature"
    layer (the FID features), and a linear classification head.

    SiLU rather than ReLU in the feature layer: ReLU leaves dead units whose features are zero
    for every image, which makes the feature covariance singular and FID's matrix square root
    ill-conditioned. The features are then layer-normalised (zero mean, unit variance across the
    vector): training otherwise inflates them freely (confident logits), and KID's cubic kernel
    (x.y / d + 1)^3 was built for Inception-scale features; unnormalised ones of norm ~5 sqrt(d)
    made its variance swamp the signal (measured on digits). FID only rescales with them.
    """

    def __init__(self, image_shape, n_classes: int, width: int = 32, n_features: int = 64):
        super().__init__()
        channels, height, width_px = (int(s) for s in image_shape)
        self.image_shape = (channels, height, width_px)
        self.n_classes = int(n_classes)
        self.n_features = int(n_features)
        # Halve the resolution until about 4x4 is left (8x8: once, 32x32: three times).
        n_down = max(1, int(math.floor(math.log2(max(1, min(height, width_px)) / 4))))
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.SiLU()]
        current = width
        for stage in range(n_down):
            out = width * min(2 ** (stage + 1), 4)
            layers += [nn.Conv2d(current, out, 3, stride=2, padding=1), nn.SiLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.SiLU()]
            current = out
        self.body = nn.Sequential(*layers)
        self.feature = nn.Linear(current, self.n_features)
        self.head = nn.Linear(self.n_features, self.n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, (B, n_features), layer-normalised, for NCHW images in
        [-1, 1]."""
        pooled = self.body(x).mean(dim=(2, 3))
        features = nn.functional.silu(self.feature(pooled))
        return nn.functional.layer_norm(features, (self.n_features,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, (B, n_classes)."""
        return self.head(self.features(x))


def train_classifier(images_flat, labels, image_shape, settings: ClassifierSettings,
                     device: torch.device | str = "cpu") -> tuple[ImageClassifier, list[dict]]:
    """Train with Adam and cross-entropy; return the model (in eval mode) and one history row
    per epoch (mean loss, training accuracy).

    Seeded and deterministic on CPU: the initial weights come from `settings.seed` inside a
    forked RNG (the caller's global torch RNG is left untouched) and the epoch shuffles from an
    explicit generator.
    """
    device = torch.device(device)
    labels = np.asarray(labels, dtype=np.int64)
    images = _as_images(images_flat, image_shape, device)
    targets = torch.as_tensor(labels, device=device)
    if images.shape[0] != targets.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {targets.shape[0]} labels")
    n_classes = int(labels.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = ImageClassifier(image_shape, n_classes, width=settings.width,
                                n_features=settings.n_features)
    model = model.to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.learning_rate)
    generator = torch.Generator().manual_seed(settings.seed)
    history = []
    n = images.shape[0]
    epochs = tqdm(range(settings.epochs), desc="classifier training", unit="epoch",
                  file=sys.stderr, mininterval=5.0)
    for epoch in epochs:
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total_loss, correct = 0.0, 0
        for start in range(0, n, settings.batch_size):
            index = order[start:start + settings.batch_size]
            logits = model(images[index])
            loss = nn.functional.cross_entropy(logits, targets[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total_loss += float(loss.detach()) * len(index)
            correct += int((logits.argmax(dim=1) == targets[index]).sum())
        history.append({"epoch": epoch + 1, "loss": total_loss / n, "accuracy": correct / n})
    model.eval()
    return model, history


@torch.no_grad()
def accuracy(model: ImageClassifier, images_flat, labels, image_shape,
             device: torch.device | str = "cpu", batch_size: int = 512) -> float:
    """Fraction of images whose predicted class is the label."""
    model.eval()
    images = _as_images(images_flat, image_shape, device)
    labels = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
    predicted = torch.cat([model(images[i:i + batch_size]).argmax(dim=1)
                           for i in range(0, images.shape[0], batch_size)])
    return float((predicted == labels).float().mean())


def save_classifier(path, model: ImageClassifier) -> None:
    """Weights only (a state dict, written atomically); `load_classifier` rebuilds the network
    from the tensors' shapes, so no separate architecture record is needed."""
    weights.save_state_dict(path, model)


def classifier_from_state_dict(state: dict, image_shape) -> ImageClassifier:
    """An ImageClassifier whose width, feature count and class count are read off the weights."""
    stem = state["body.0.weight"]
    if stem.shape[1] != image_shape[0]:
        raise ValueError(f"the classifier was trained on {stem.shape[1]}-channel images, "
                         f"but the data has image_shape {tuple(image_shape)}")
    model = ImageClassifier(image_shape, n_classes=state["head.weight"].shape[0],
                            width=stem.shape[0], n_features=state["feature.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval()


def load_classifier(path, image_shape, device: torch.device | str = "cpu") -> ImageClassifier:
    """A saved classifier, in eval mode on `device` (weights_only load)."""
    return classifier_from_state_dict(weights.load_state_dict(path), image_shape).to(device)

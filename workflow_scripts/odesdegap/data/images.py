"""Image data sets, flattened to (n, C*H*W) float32 rows in [-1, 1] so that every sampler,
residual and metric of the library treats them like any other point cloud; `IMAGE_SHAPES`
says how to fold a row back into an image.

`digits` (scikit-learn's 8x8 handwritten digits) ships with scikit-learn and works offline.
MNIST, Fashion-MNIST and CIFAR-10 come through torchvision: their files are downloaded into a
configurable folder on first use, and without a network the loader stops with a message that
names the files to fetch and where to put them.
"""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np

from odesdegap.config import register_check

# 8x8 is already a power of two; the 28x28 sets are padded to 32x32 with background, so that
# a U-Net can halve the resolution three times.
IMAGE_SHAPES = {
    "digits": (1, 8, 8),
    "mnist": (1, 32, 32),
    "fashion_mnist": (1, 32, 32),
    "cifar10": (3, 32, 32),
}
TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "cifar10")
DIGITS_TOTAL = 1797


class DatasetUnavailable(RuntimeError):
    """A torchvision data set is neither on disk nor downloadable (usually: no network)."""


def load_image_dataset(name: str, n_train: int, n_reference: int, seed: int,
                       root: str | Path = "data/torchvision", download: bool = True) -> dict:
    """{train, train_labels, reference, reference_labels}: flat images in [-1, 1] and their class
    labels. The reference set is held out from training (the test split where there is one), and
    either set is a seeded subset when the config asks for fewer images than exist."""
    if name not in IMAGE_SHAPES:
        raise ValueError(f"unknown image data set {name!r}; expected one of {sorted(IMAGE_SHAPES)}")
    rng = np.random.default_rng(seed)
    if name == "digits":
        images, labels = _digits()
        if n_reference >= len(images):
            raise ValueError(f"digits has {len(images)} images: n_reference ({n_reference}) must "
                             "leave some for training")
        order = rng.permutation(len(images))
        reference, train = order[:n_reference], order[n_reference:][:n_train]
        return {"train": images[train], "train_labels": labels[train],
                "reference": images[reference], "reference_labels": labels[reference]}
    splits = {}
    for split, wanted in (("train", n_train), ("reference", n_reference)):
        images, labels = _torchvision(name, Path(root), train=split == "train", download=download)
        chosen = np.sort(rng.permutation(len(images))[:wanted])
        splits[split], splits[f"{split}_labels"] = images[chosen], labels[chosen]
    return splits


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype(np.float32) / 8.0 - 1.0  # pixel values 0..16
    return images.reshape(len(images), -1), digits.target.astype(np.int64)


def _dataset_class(name: str):
    import torchvision.datasets

    return {"mnist": torchvision.datasets.MNIST,
            "fashion_mnist": torchvision.datasets.FashionMNIST,
            "cifar10": torchvision.datasets.CIFAR10}[name]


def _torchvision(name: str, root: Path, train: bool, download: bool):
    try:
        dataset = _dataset_class(name)(str(root), train=train, download=download)
    except (RuntimeError, OSError, urllib.error.URLError) as error:
        raise DatasetUnavailable(unavailable_message(name, root, download, error)) from None
    pixels = np.asarray(dataset.data)  # uint8: (n, 28, 28) or (n, 32, 32, 3)
    labels = np.asarray(dataset.targets, dtype=np.int64)
    if pixels.ndim == 3:  # grayscale 28x28: pad to 32x32 with background
        pixels = np.pad(pixels, ((0, 0), (2, 2), (2, 2)))[:, None]
    else:
        pixels = pixels.transpose(0, 3, 1, 2)
    images = pixels.astype(np.float32) / 127.5 - 1.0
    return images.reshape(len(images), -1), labels


def expected_files(name: str, root: str | Path) -> tuple[list[str], Path]:
    """The download URLs of a torchvision data set and the folder they go into."""
    root = Path(root)
    dataset_class = _dataset_class(name)
    if name == "cifar10":
        return [dataset_class.url], root
    mirror = dataset_class.mirrors[0]
    urls = [mirror + filename for filename, _ in dataset_class.resources]
    return urls, root / dataset_class.__name__ / "raw"


def unavailable_message(name: str, root: str | Path, download: bool, error=None) -> str:
    urls, folder = expected_files(name, root)
    why = ("downloading them failed" + (f" ({str(error).splitlines()[0]})" if error else "")
           if download else "data.download is false")
    return (f"data set {name!r} is not in {Path(root).resolve()} and {why}. Without a network, "
            f"download these files elsewhere:\n    " + "\n    ".join(urls) +
            f"\nput them, as they are, in {folder.resolve()} and keep data.download true: "
            "torchvision then checks and unpacks them without a network. (data.root picks the "
            "folder; the image data set that works offline is 'digits'.)")


def is_on_disk(name: str, root: str | Path) -> bool:
    """Whether torchvision would find the data set without downloading."""
    try:
        _dataset_class(name)(str(root), train=False, download=False)
    except (RuntimeError, OSError):
        return False
    return True


@register_check(on_disk=True)
def missing_data_problems(config: dict) -> list[str]:
    """torchvision data sets that are not on disk when downloading is switched off: caught by
    the config check, before any job, rather than by the first job that needs them."""
    data = config["data"]
    if data["download"]:
        return []
    return [unavailable_message(name, data["root"], download=False)
            for name in config["datasets"]
            if name in TORCHVISION_DATASETS and not is_on_disk(name, data["root"])]

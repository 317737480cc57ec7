"""FID and KID on images through clean-fid.

clean-fid does the parts that decide whether a number is comparable to anyone else's: the
Fréchet distance and the KID estimator, the resizing ("clean" mode: PIL bicubic on float
channels) and the Inception network. This module only feeds it: samples arrive as flat float
arrays in [-1, 1], and are turned into exactly what clean-fid's folder pipeline
(`fid.get_files_features` over `utils.ResizeDataset`) would produce had they been saved as PNGs
and read back: clipped, quantised to uint8, grayscale repeated to RGB, HWC, resized, then a
(B, 3, H', W') float batch in 0..255.

Two feature extractors:
- "inception": clean-fid's InceptionV3 torchscript model at 299x299, the standard FID. Its
  weights are downloaded once into `inception_dir`; offline, a clear error says where to put them.
- "classifier": a CNN trained on the data set (`classifier.py`), at the data's own resolution.
  Works offline and suits small images (8x8, 32x32), where Inception features mean little.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.request
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torchvision
from cleanfid import fid as cleanfid_fid
from cleanfid.downloads_helper import inception_url
from cleanfid.inception_torchscript import InceptionV3W
from cleanfid.resize import build_resizer, make_resizer
from tqdm import tqdm

from odesdegap import runtime
from odesdegap.evaluation.classifier import ImageClassifier, load_classifier
from odesdegap.io.artifacts import atomic_path

EXTRACTORS = ("inception", "classifier")
INCEPTION_FILE = "inception-2015-12-05.pt"  # the name InceptionV3W loads from its directory
DOWNLOAD_TIMEOUT_S = 60


class FeatureExtractorUnavailable(RuntimeError):
    """The chosen feature extractor cannot be built here (e.g. Inception weights, offline)."""


@dataclass
class FeatureExtractor:
    """What `image_features` needs: a clean-fid feature model (a callable on (B, 3, H', W')
    batches in 0..255) and the clean-fid resizer that brings HWC uint8 images to H' x W'."""

    name: str
    model: Callable[[torch.Tensor], torch.Tensor]
    resize: Callable[[np.ndarray], np.ndarray]
    dim: int


class ClassifierFeatures(torch.nn.Module):
    """An ImageClassifier as a clean-fid custom feature extractor: takes clean-fid's (B, 3, H, W)
    batch in 0..255, maps it back to the classifier's [-1, 1] and channel count, and returns the
    penultimate features."""

    def __init__(self, classifier: ImageClassifier):
        super().__init__()
        self.classifier = classifier.eval()

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        x = batch / 127.5 - 1.0
        if self.classifier.image_shape[0] == 1:
            x = x.mean(dim=1, keepdim=True)  # the three channels are copies of the gray one
        return self.classifier.features(x)


@contextmanager
def _quiet_jit_load():
    """clean-fid's Inception is TorchScript; torch 2.14 warns on every torch.jit.load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load. is deprecated",
                                category=FutureWarning)
        yield


def default_inception_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clean-fid"


def inception_weights(inception_dir=None) -> Path:
    """The path of clean-fid's InceptionV3 weights in `inception_dir`, downloaded if absent.

    Not clean-fid's own `check_download_inception`: that one has no timeout and writes straight
    to the final name, so a failed download leaves a truncated file that looks cached. Here the
    download goes to a temporary name and is renamed only once complete and loadable.
    """
    directory = (Path(inception_dir).expanduser() if inception_dir is not None
                 else default_inception_dir())
    destination = directory / INCEPTION_FILE
    if destination.exists():
        return destination
    try:
        with atomic_path(destination) as tmp:
            with urllib.request.urlopen(inception_url, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                    open(tmp, "wb") as handle:
                shutil.copyfileobj(response, handle)
            with _quiet_jit_load():
                torch.jit.load(str(tmp))  # only a loadable model is renamed into the cache
    except Exception as error:  # URLError, HTTPError, timeouts, disk errors: all mean the same
        raise FeatureExtractorUnavailable(
            f"FID with feature extractor 'inception' needs clean-fid's InceptionV3 weights, which "
            f"are not at {destination}, and downloading them failed "
            f"({type(error).__name__}: {error}). Download {inception_url} on a machine with "
            f"internet access and put the file at exactly {destination}, or set "
            "`evaluation.fid.feature_extractors: [classifier]`, which works offline (a CNN trained "
            "on the data set).") from error
    return destination


def build_extractor(name: str, image_shape, device: torch.device | str = "cpu",
                    classifier: ImageClassifier | str | os.PathLike | None = None,
                    inception_dir=None) -> FeatureExtractor:
    """The feature extractor called `name` ("inception" or "classifier"), on `device`.

    `classifier` is a trained ImageClassifier or the path of its saved state dict (needed for
    "classifier" only); `inception_dir` caches the Inception weights ("inception" only).
    """
    device = torch.device(device)
    channels, height, width = (int(s) for s in image_shape)
    if name == "inception":
        path = inception_weights(inception_dir)
        try:
            with _quiet_jit_load():
                model = InceptionV3W(str(path.parent), download=False, resize_inside=False)
        except Exception as error:
            raise FeatureExtractorUnavailable(
                f"cannot load the InceptionV3 weights at {path} ({type(error).__name__}); the "
                f"file is probably damaged: delete it (it is downloaded again from "
                f"{inception_url}), or put an intact copy there") from error
        return FeatureExtractor(name, model.to(device).eval(), build_resizer("clean"), 2048)
    if name == "classifier":
        if classifier is None:
            raise ValueError("feature extractor 'classifier' needs a trained classifier "
                             "(an ImageClassifier or the path of its weights)")
        if not isinstance(classifier, ImageClassifier):
            classifier = load_classifier(classifier, (channels, height, width), device)
        model = ClassifierFeatures(classifier).to(device).eval()
        # clean-fid's PIL float resizer at the native size: PIL returns the image unchanged,
        # so the classifier sees the data at the resolution it was trained on.
        resize = make_resizer("PIL", False, "bicubic", (width, height))
        return FeatureExtractor(name, model, resize, classifier.n_features)
    raise ValueError(f"a FID feature extractor must be one of {EXTRACTORS}, "
                     f"got {name!r}")


def job_extractor(sm, device: torch.device) -> FeatureExtractor:
    """The extractor a FID job's `extractor` wildcard names (the classifier from its input);
    stops the job with the extractor's own message when it cannot be had (offline Inception
    weights). Inception's cache folder is config, not a param: moving it reruns nothing."""
    with runtime.stopping_on(FeatureExtractorUnavailable):
        return build_extractor(
            sm.wildcards.extractor, tuple(sm.params.image_shape), device,
            classifier=sm.input.get("classifier"),
            inception_dir=sm.config["evaluation"]["fid"]["inception_dir"])


def to_uint8_hwc(images_flat, image_shape) -> tuple[np.ndarray, int]:
    """Flat [-1, 1] images -> (n, H, W, 3) uint8, as if saved to PNG and read back as RGB; and
    the number of rows dropped for holding NaN or inf.

    Values outside [-1, 1] (a sampler overshooting) are clipped, then mapped to 0..255 and
    rounded. Grayscale is repeated to three channels, as PIL's convert("RGB") does in clean-fid.
    """
    channels, height, width = (int(s) for s in image_shape)
    if channels not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, got image_shape {tuple(image_shape)}")
    images = np.asarray(images_flat, dtype=np.float64).reshape(-1, channels * height * width)
    finite = np.isfinite(images).all(axis=1)
    images = np.clip(images[finite], -1.0, 1.0)
    quantised = np.rint((images + 1.0) * 127.5).astype(np.uint8)
    hwc = quantised.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    if channels == 1:
        hwc = np.repeat(hwc, 3, axis=3)
    return np.ascontiguousarray(hwc), int((~finite).sum())


_to_tensor = torchvision.transforms.ToTensor()


def resized_batch(images_hwc: np.ndarray, resize) -> torch.Tensor:
    """Resize each image with clean-fid's resizer and stack, as `utils.ResizeDataset` does."""
    tensors = []
    for image in images_hwc:
        resized = resize(image)
        # ToTensor scales uint8 to [0, 1] but leaves float32 alone: clean-fid undoes the former.
        if resized.dtype == np.uint8:
            tensors.append(_to_tensor(np.array(resized)) * 255)
        else:
            tensors.append(_to_tensor(resized.astype(np.float32, copy=False)))
    return torch.stack(tensors)


def image_features(images_flat, image_shape, extractor: FeatureExtractor,
                   device: torch.device | str = "cpu",
                   batch_size: int = 256) -> tuple[np.ndarray, int]:
    """(features (n_finite, F) float64, number of non-finite images dropped)."""
    device = torch.device(device)
    images, n_dropped = to_uint8_hwc(images_flat, image_shape)
    batches = tqdm(range(0, len(images), batch_size), desc=f"{extractor.name} features",
                   unit="batch", file=sys.stderr, mininterval=5.0)
    features = [cleanfid_fid.get_batch_features(resized_batch(images[i:i + batch_size],
                                                                extractor.resize),
                                                extractor.model, device)
                for i in batches]
    if not features:
        return np.zeros((0, extractor.dim)), n_dropped
    return np.concatenate(features).astype(np.float64), n_dropped


def _finite_rows(features) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features[np.isfinite(features).all(axis=1)]


def fid(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (clean-fid's formula on
    np.mean / np.cov(rowvar=False), as clean-fid computes them); NaN if a side has < 2 rows."""
    a, b = _finite_rows(features_a), _finite_rows(features_b)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    with warnings.catch_warnings():
        # clean-fid 0.1.35 passes sqrtm's `disp`, deprecated in SciPy 1.17: noise in every log.
        warnings.filterwarnings("ignore", message=".*`disp` argument is deprecated",
                                category=DeprecationWarning)
        return float(cleanfid_fid.frechet_distance(a.mean(axis=0), np.cov(a, rowvar=False),
                                                   b.mean(axis=0), np.cov(b, rowvar=False)))


def kid(features_a, features_b, seed: int, num_subsets: int = 100,
        max_subset_size: int = 1000) -> float:
    """Kernel inception distance (clean-fid's estimator); NaN if a side has < 2 rows.

    clean-fid draws its subsets from numpy's global RNG: it is seeded here for reproducibility
    and restored afterwards, so the caller's random stream is not disturbed.
    """
    a, b = _finite_rows(features_a), _finite_rows(features_b)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        return float(cleanfid_fid.kernel_distance(a, b, num_subsets=num_subsets,
                                                  max_subset_size=max_subset_size))
    finally:
        np.random.set_state(state)

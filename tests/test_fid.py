"""FID/KID through clean-fid and the data-set classifier that serves as the offline feature
extractor, on scikit-learn's digits (1797 8x8 grayscale images, shipped with scikit-learn)."""

import io
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from cleanfid import fid as cleanfid_fid
from cleanfid.downloads_helper import inception_url
from cleanfid.resize import build_resizer, make_resizer
from cleanfid.utils import ResizeDataset
from PIL import Image
from sklearn.datasets import load_digits

from odesdegap.config import from_schema_defaults
from odesdegap.evaluation import fid as F
from odesdegap.evaluation.classifier import (
    accuracy,
    load_classifier,
    save_classifier,
    train_classifier,
)
from odesdegap.settings import ClassifierSettings

SHAPE = (1, 8, 8)
NOISE_STDS = (0.1, 0.3, 0.6)
# KID costs three m x m kernel matrices per subset; fewer, smaller subsets keep the tests fast.
KID_ARGS = {"num_subsets": 10, "max_subset_size": 500}


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    images = (data.data / 8.0 - 1.0).astype(np.float32)  # 0..16 -> [-1, 1]
    order = np.random.default_rng(0).permutation(len(images))
    return images[order], data.target[order]


@pytest.fixture(scope="module")
def trained(digits):
    images, labels = digits
    torch.set_num_threads(1)
    model, history = train_classifier(images[:1400], labels[:1400], SHAPE,
                                      from_schema_defaults(ClassifierSettings, "classifier",
                                                           epochs=10, batch_size=64,
                                                           learning_rate=3e-3, seed=0), "cpu")
    return model, history


@pytest.fixture(scope="module")
def extractor(trained):
    return F.build_extractor("classifier", SHAPE, "cpu", classifier=trained[0])


@pytest.fixture(scope="module")
def halves(digits, extractor):
    """Features of two disjoint halves of the digits, and the second half's images."""
    images, _ = digits
    first, second = images[:898], images[898:]
    return F.image_features(first, SHAPE, extractor)[0], F.image_features(second, SHAPE,
                                                                          extractor)[0], second


def _noisy_features(images, std, extractor):
    noise = np.random.default_rng(1).standard_normal(images.shape).astype(np.float32)
    return F.image_features(images + std * noise, SHAPE, extractor)[0]


@pytest.mark.slow
def test_classifier_is_accurate_on_held_out_digits(digits, trained):
    images, labels = digits
    model, history = trained
    assert accuracy(model, images[1400:], labels[1400:], SHAPE, "cpu") > 0.9
    assert history[-1]["loss"] < history[0]["loss"]


def test_classifier_training_is_deterministic_on_cpu(digits):
    images, labels = digits
    settings = from_schema_defaults(ClassifierSettings, "classifier", epochs=1, seed=3)
    first, history_1 = train_classifier(images[:300], labels[:300], SHAPE, settings)
    second, history_2 = train_classifier(images[:300], labels[:300], SHAPE, settings)
    assert history_1 == history_2
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 32, 32), (3, 32, 32)])
def test_classifier_shapes(shape):
    from odesdegap.evaluation.classifier import ImageClassifier

    model = ImageClassifier(shape, n_classes=10)
    x = torch.zeros(2, *shape)
    assert model(x).shape == (2, 10)
    assert model.features(x).shape == (2, model.n_features)


def test_fid_of_a_set_with_itself_is_zero_and_of_two_halves_small(halves):
    first, second, _ = halves
    scale = np.trace(np.cov(first, rowvar=False))
    assert abs(F.fid(first, first)) < 1e-6 * scale
    assert 0 < F.fid(first, second) < 0.02 * scale


@pytest.mark.slow
def test_fid_and_kid_grow_with_noise(halves, extractor):
    first, second, second_images = halves
    fids = [F.fid(first, second)]
    kids = [F.kid(first, second, seed=0, **KID_ARGS)]
    for std in NOISE_STDS:
        noisy = _noisy_features(second_images, std, extractor)
        fids.append(F.fid(first, noisy))
        kids.append(F.kid(first, noisy, seed=0, **KID_ARGS))
    assert np.all(np.diff(fids) > 0), fids
    assert np.all(np.diff(kids) > 0), kids
    assert fids[-1] > 10 * fids[0]


@pytest.mark.slow
def test_kid_is_near_zero_for_the_same_distribution_and_reproducible(halves, extractor):
    first, second, second_images = halves
    noisy = _noisy_features(second_images, 0.1, extractor)
    assert abs(F.kid(first, second, seed=0, **KID_ARGS)) < 0.2 * F.kid(first, noisy, seed=0,
                                                                         **KID_ARGS)
    # A set against itself: clean-fid's cross term keeps the diagonal, so with m = n the
    # estimate is exactly 2 (mean off-diagonal kernel - mean diagonal kernel) / m, an O(1/m)
    # offset that is tiny next to the kernel's scale.
    same = first[:500]
    kernel = (same @ same.T / same.shape[1] + 1) ** 3
    m = len(same)
    off_diagonal = (kernel.sum() - np.trace(kernel)) / (m * (m - 1))
    expected = 2 * (off_diagonal - np.trace(kernel) / m) / m
    self_kid = F.kid(same, same, seed=0, **KID_ARGS)
    assert self_kid == pytest.approx(expected, rel=1e-9)
    assert abs(self_kid) < 1e-2 * np.trace(kernel) / m
    state = np.random.get_state()
    assert F.kid(first, second, 5, **KID_ARGS) == F.kid(first, second, 5, **KID_ARGS)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG restored


def test_fid_and_kid_are_nan_with_fewer_than_two_images(halves):
    first, _, _ = halves
    assert np.isnan(F.fid(first, first[:1]))
    assert np.isnan(F.kid(first[:1], first, seed=0))


@pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")
def test_fid_matches_cleanfid_frechet_distance(digits, halves, extractor):
    first, _, _ = halves
    images, _ = digits
    other, n_dropped = F.image_features(images[:500] * 0.9, SHAPE, extractor)
    assert n_dropped == 0
    expected = cleanfid_fid.frechet_distance(first.mean(0), np.cov(first, rowvar=False),
                                             other.mean(0), np.cov(other, rowvar=False))
    assert F.fid(first, other) == pytest.approx(expected, rel=1e-12)
    assert F.fid(first, other) == pytest.approx(cleanfid_fid.fid_from_feats(first, other),
                                                rel=1e-12)


def test_classifier_extractor_sees_the_quantised_images(digits, trained, extractor, tmp_path):
    images, _ = digits
    model = trained[0]
    features, _ = F.image_features(images[:50], SHAPE, extractor)
    quantised = np.rint((images[:50] + 1) * 127.5) / 127.5 - 1
    with torch.no_grad():
        direct = model.features(torch.tensor(quantised, dtype=torch.float32).reshape(-1, *SHAPE))
    np.testing.assert_allclose(features, direct.numpy(), atol=1e-4)
    # Loaded back from its weights file, the extractor gives the same features.
    save_classifier(tmp_path / "classifier.pt", model)
    assert load_classifier(tmp_path / "classifier.pt", SHAPE).n_features == model.n_features
    from_file = F.build_extractor("classifier", SHAPE, "cpu", classifier=tmp_path / "classifier.pt")
    np.testing.assert_array_equal(F.image_features(images[:50], SHAPE, from_file)[0], features)


def test_uint8_quantisation_clipping_and_channel_repeat():
    shape = (1, 2, 2)
    flat = np.array([[-1.0, 0.0, 1.0, 0.5], [-3.0, 2.0, -0.999, 0.01]])
    hwc, n_dropped = F.to_uint8_hwc(flat, shape)
    assert n_dropped == 0 and hwc.dtype == np.uint8 and hwc.shape == (2, 2, 2, 3)
    # 0 -> 127.5 rounds to even (128); out-of-range values clip to 0 and 255.
    np.testing.assert_array_equal(hwc[0, :, :, 0], [[0, 128], [255, 191]])
    np.testing.assert_array_equal(hwc[1, :, :, 0], [[0, 255], [0, 129]])
    assert all(np.array_equal(hwc[..., 0], hwc[..., c]) for c in (1, 2))

    rgb = np.arange(12, dtype=np.float64).reshape(1, 12) / 11 * 2 - 1  # (3, 2, 2) row-major
    hwc, _ = F.to_uint8_hwc(rgb, (3, 2, 2))
    chw = np.rint((rgb.reshape(3, 2, 2) + 1) * 127.5)
    np.testing.assert_array_equal(hwc[0], chw.transpose(1, 2, 0))


@pytest.mark.parametrize("mode", ["clean", "native"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 5, 6)])
def test_batches_match_cleanfids_folder_pipeline(tmp_path, mode, shape):
    """Saved as PNG and read by clean-fid's ResizeDataset, the images give the same batch."""
    flat = np.random.default_rng(2).uniform(-1.2, 1.2, (3, int(np.prod(shape))))
    hwc, _ = F.to_uint8_hwc(flat, shape)
    files = []
    for i, image in enumerate(hwc):
        pil = Image.fromarray(image[..., 0]) if shape[0] == 1 else Image.fromarray(image)
        pil.save(tmp_path / f"{i}.png")
        files.append(str(tmp_path / f"{i}.png"))
    dataset = ResizeDataset(files, mode="clean")
    if mode == "native":
        resize = make_resizer("PIL", False, "bicubic", (shape[2], shape[1]))
        dataset.fn_resize = resize
    else:
        resize = build_resizer("clean")
    expected = torch.stack([dataset[i] for i in range(len(files))])
    batch = F.resized_batch(hwc, resize)
    size = (shape[1], shape[2]) if mode == "native" else (299, 299)
    assert batch.shape == (3, 3, *size) and batch.dtype == torch.float32
    assert torch.equal(batch, expected)
    if mode == "native":
        assert torch.equal(batch, torch.as_tensor(hwc).permute(0, 3, 1, 2).float())


def test_non_finite_images_are_dropped_and_counted(digits, extractor):
    images, _ = digits
    batch = images[:20].copy()
    batch[3, 5] = np.nan
    batch[7, 0] = np.inf
    batch[11, 63] = -np.inf
    batch[12] *= 5.0  # out of range: clipped, kept
    features, n_dropped = F.image_features(batch, SHAPE, extractor, batch_size=8)
    assert n_dropped == 3 and features.shape == (17, extractor.dim)
    assert features.dtype == np.float64 and np.isfinite(features).all()
    kept = np.delete(batch, [3, 7, 11], axis=0)
    # (batching changes float32 rounding, so equal to within it)
    np.testing.assert_allclose(features, F.image_features(np.clip(kept, -1, 1), SHAPE,
                                                          extractor)[0], rtol=1e-5, atol=1e-5)
    empty, n_dropped = F.image_features(np.full((2, 64), np.nan), SHAPE, extractor)
    assert n_dropped == 2 and empty.shape == (0, extractor.dim)


def test_inception_offline_raises_a_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network in this test")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(F.FeatureExtractorUnavailable) as error:
        F.build_extractor("inception", SHAPE, "cpu", inception_dir=tmp_path)
    message = str(error.value)
    assert inception_url in message
    assert str(tmp_path / "inception-2015-12-05.pt") in message
    assert "feature_extractors: [classifier]" in message
    assert list(tmp_path.iterdir()) == []


def test_inception_download_that_is_not_a_model_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda *args, **kwargs: io.BytesIO(b"<html>captive portal</html>"))
    with pytest.raises(F.FeatureExtractorUnavailable, match="put the file at exactly"):
        F.build_extractor("inception", SHAPE, "cpu", inception_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_damaged_cached_inception_weights_are_reported(tmp_path):
    (tmp_path / "inception-2015-12-05.pt").write_bytes(b"truncated")
    with pytest.raises(F.FeatureExtractorUnavailable, match="damaged"):
        F.build_extractor("inception", SHAPE, "cpu", inception_dir=tmp_path)


def test_unknown_extractor_and_missing_classifier_are_refused():
    with pytest.raises(ValueError, match="must be one of"):
        F.build_extractor("vgg", SHAPE, "cpu")
    with pytest.raises(ValueError, match="needs a trained classifier"):
        F.build_extractor("classifier", SHAPE, "cpu")


def test_feature_extraction_reports_progress_to_stderr(digits, extractor, capsys):
    images, _ = digits
    F.image_features(images[:50], SHAPE, extractor, batch_size=16)
    err = capsys.readouterr().err
    assert "classifier features: 100%" in err and "4/4" in err

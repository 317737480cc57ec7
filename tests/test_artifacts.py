"""Artifacts: models round-trip through state_dicts loaded with weights_only, checkpoints are
tied to their job, and a failed write leaves no file behind."""

import os
import pickle

import numpy as np
import pytest
import torch

from odesdegap.io import artifacts, rows, weights
from odesdegap.models import PotentialMLP


def test_model_round_trip(tmp_path):
    torch.manual_seed(0)
    model = PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    weights.save_state_dict(tmp_path / "model.pt", model)
    clone = PotentialMLP(2, hidden_width=16, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    clone.load_state_dict(weights.load_state_dict(tmp_path / "model.pt"))
    x, t = torch.randn(8, 2), torch.rand(8)
    assert torch.equal(model.potential(x, t), clone.potential(x, t))


def test_weights_only_loading_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"payload": pickle.loads(pickle.dumps(np.random.default_rng()))}, path)
    with pytest.raises(ValueError, match="cannot read model weights") as caught:
        weights.load_state_dict(path)
    assert isinstance(caught.value.__cause__, pickle.UnpicklingError)


def test_checkpoint_belongs_to_its_fingerprint(tmp_path):
    path = tmp_path / "ckpt.pt"
    weights.save_checkpoint(path, {"lr": 1e-3}, {"step": 7})
    assert weights.load_checkpoint(path, {"lr": 1e-3})["step"] == 7
    assert weights.load_checkpoint(path, {"lr": 1e-4}) is None
    assert weights.load_checkpoint(tmp_path / "missing.pt", {"lr": 1e-3}) is None


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with artifacts.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_arrays_and_json_round_trip(tmp_path):
    artifacts.save_arrays(tmp_path / "a.npz", x=np.arange(3.0), nfe=5)
    loaded = artifacts.load_arrays(tmp_path / "a.npz")
    assert np.array_equal(loaded["x"], np.arange(3.0)) and int(loaded["nfe"]) == 5
    artifacts.write_json(tmp_path / "m.json", {"value": np.float32(0.5), "n": np.int64(2)})
    assert artifacts.read_json(tmp_path / "m.json") == {"value": 0.5, "n": 2}


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        artifacts.write_json(tmp_path / "shared.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "shared.json").stat().st_mode & 0o777 == 0o644


def test_row_files_name_their_run_and_concatenate_exactly(tmp_path):
    """A per-run row file starts every row with its run; reading many gives their
    concatenation in the order given, with every float as written."""
    records = [{"eta": 0.1, "w2sq": 1 / 3}, {"eta": 0.7, "w2sq": 2 ** -40 + 1e-17}]
    rows.write_rows(tmp_path / "a.csv", {"dataset": "moons", "fp_weight": 1.0, "seed": 3},
                    records)
    rows.write_rows(tmp_path / "b.csv",
                    {"dataset": "exact Gaussian", "fp_weight": None, "seed": 0}, records[:1])
    table = rows.read_rows([tmp_path / "a.csv", tmp_path / "b.csv"])
    assert list(table.columns) == ["dataset", "fp_weight", "seed", "eta", "w2sq"]
    assert list(table.dataset) == ["moons", "moons", "exact Gaussian"]
    assert list(table.seed) == [3, 3, 0] and np.isnan(table.fp_weight.iloc[2])
    assert list(table.w2sq) == [records[0]["w2sq"], records[1]["w2sq"], records[0]["w2sq"]]

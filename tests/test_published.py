"""The authors' published checkpoints: safe loading (nothing in the file is executed), shape
checks, and the conversion into our PotentialMLP. Uses the copy in ../shared/published beside the
repository (or the folder named by ODESDEGAP_PUBLISHED_DIR), skipped, with the reason, without."""

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from odesdegap.models import PotentialMLP
from odesdegap.published import checkpoints, layout
from published_paths import CHECKPOINTS, HISTOGRAMS, needs

REPO = Path(__file__).resolve().parents[1]
needs_published = needs(CHECKPOINTS)


def authors_forward(state: dict, tx: torch.Tensor) -> torch.Tensor:
    """Their forward pass written out from the loaded parameters: Softplus(beta=100) after each
    of the first three Linear layers, on rows [t, x1, x2]."""
    h = tx
    for name in ("input", "hidden1", "hidden2"):
        h = nn.functional.softplus(h @ state[f"{name}.weight"].T + state[f"{name}.bias"],
                                   beta=100.0)
    return (h @ state["output.weight"].T + state["output.bias"]).squeeze(1)


@needs_published
@pytest.mark.parametrize("dataset,weight", [("mixture", 0.0), ("checkerboard", 10.0),
                                            ("circles", 0.1)])
def test_converted_model_has_the_authors_potential_and_score(dataset, weight):
    net = checkpoints.load_authors_net(layout.checkpoint_path(CHECKPOINTS, dataset, weight))
    state = {k: v.detach() for k, v in net.state_dict().items()}
    model = PotentialMLP(dim=2, hidden_width=80, hidden_layers=3, softplus_beta=100.0,
                         gaussian_baseline=False)
    model.load_state_dict(checkpoints.to_potential_mlp_state(net))
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(512, 2, generator=generator) * 8 - 4).requires_grad_(True)
    t = 1e-5 + torch.rand(512, generator=generator) * 10
    theirs = authors_forward(state, torch.cat([t[:, None], x], dim=1))
    (their_score,) = torch.autograd.grad(theirs.sum(), x)
    ours = model.potential(x, t)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(model.score(x.detach(), t), their_score, rtol=1e-5, atol=1e-4)
    # The potential is not a constant: the comparison above would otherwise be empty.
    assert their_score.abs().max() > 0.1


@needs_published
def test_every_published_checkpoint_loads():
    for dataset in layout.DATASET_NAMES:
        for weight in layout.PUBLISHED_WEIGHTS:
            path = layout.checkpoint_path(CHECKPOINTS, dataset, weight)
            assert checkpoints.pickle_globals(path) <= checkpoints.ALLOWED_GLOBALS
            checkpoints.load_authors_net(path)


class Intruder(nn.Module):
    """A module outside the allow-list whose unpickling would run code if it were allowed."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 80)

    def __setstate__(self, state):
        Path(os.environ["INTRUDER_MARK"]).write_text("executed")
        super().__setstate__(state)


def test_a_file_with_an_unknown_global_is_refused_and_nothing_runs(tmp_path, monkeypatch):
    mark = tmp_path / "mark"
    monkeypatch.setenv("INTRUDER_MARK", str(mark))
    path = tmp_path / "intruder.pt"
    torch.save(Intruder(), path)
    with pytest.raises(layout.PublishedFileError,
                       match=r"intruder\.pt: refusing to load.*test_published\.Intruder"):
        checkpoints.load_authors_net(path)
    assert not mark.exists()


def test_a_plain_pickle_with_a_reduce_of_os_system_is_refused(tmp_path):
    import pickle
    import zipfile

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps(Evil(), protocol=2))
    with pytest.raises(layout.PublishedFileError, match="posix.system|os.system"):
        checkpoints.load_authors_net(path)
    assert not (tmp_path / "pwned").exists()


def authors_like(widths=(3, 80, 80, 80, 1), beta=100.0):
    net = checkpoints.AuthorsNet()
    for name, (n_in, n_out) in zip(("input", "hidden1", "hidden2", "output"),
                                   zip(widths[:-1], widths[1:], strict=True), strict=True):
        setattr(net, name, nn.Linear(n_in, n_out))
    net.activation = nn.Softplus(beta=beta)
    return net


@pytest.mark.parametrize("net,message", [
    (authors_like(widths=(3, 64, 80, 80, 1)), r"layer input is \(64, 3\)"),
    (authors_like(widths=(5, 80, 80, 80, 1)), r"layer input is \(80, 5\)"),
    (authors_like(beta=10.0), r"activation is Softplus\(beta=10"),
])
def test_a_network_of_another_shape_is_refused(tmp_path, net, message):
    path = tmp_path / "net.pt"
    torch.save(net, path)
    # Saved from this module, the class is named after it; rename it to the authors' name.
    renamed = tmp_path / "renamed.pt"
    _rename_global(path, renamed, b"odesdegap.published.checkpoints\nAuthorsNet", b"models\nNet")
    with pytest.raises(layout.PublishedFileError, match=f"renamed.pt: {message}"):
        checkpoints.load_authors_net(renamed)


def test_the_right_shape_saved_the_same_way_loads(tmp_path):
    path, renamed = tmp_path / "net.pt", tmp_path / "renamed.pt"
    torch.save(authors_like(), path)
    _rename_global(path, renamed, b"odesdegap.published.checkpoints\nAuthorsNet", b"models\nNet")
    assert isinstance(checkpoints.load_authors_net(renamed), checkpoints.AuthorsNet)


def test_a_missing_or_foreign_file_is_named(tmp_path):
    with pytest.raises(layout.PublishedFileError, match="nothing.pt: no such file"):
        checkpoints.load_authors_net(tmp_path / "nothing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(layout.PublishedFileError, match="text.pt: not a torch.save"):
        checkpoints.load_authors_net(tmp_path / "text.pt")


def _rename_global(source: Path, target: Path, old: bytes, new: bytes) -> None:
    """Copy a torch zip file with one GLOBAL of its pickle renamed."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith("/data.pkl"):
                assert old in data
                data = data.replace(b"c" + old + b"\n", b"c" + new + b"\n")
            dst.writestr(item, data)



def resolved_preset(*overlays: dict) -> dict:
    """presets/published.yaml over config.yaml, then the overlays, merged as Snakemake merges
    --configfile (update_config, key by key), then checked."""
    import yaml
    from snakemake.utils import update_config

    from odesdegap.config_checks import checked

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for overlay in (yaml.safe_load((REPO / "presets" / "published.yaml").read_text()),
                    *overlays):
        update_config(config, overlay)
    return checked(config)


def paths(models=CHECKPOINTS, histograms=HISTOGRAMS) -> dict:
    return {"published": {"checkpoints_dir": str(models), "histograms_dir": str(histograms)}}


@needs_published
def test_the_published_preset_states_the_papers_sampler_and_network():
    config = resolved_preset(paths())
    paper_grid = {"steps": 800, "refine_last": 10, "refine_factor": 10}
    assert {k: config["sampling"][k] for k in paper_grid} == paper_grid
    for name in ("ode", "sde"):
        assert config["samplers"][name]["solver"] == "euler"
        assert config["samplers"][name]["grid"] == "sampling"
    assert {k: config["model"][k] for k in layout.MODEL_SETTINGS} == layout.MODEL_SETTINGS
    assert config["evaluation"]["grid_bins"] == 64 and config["evaluation"]["box_half_width"] == 3.5


def test_a_missing_folder_stops_before_any_job_naming_it(tmp_path):
    from odesdegap.config import ConfigError

    with pytest.raises(ConfigError, match=f"'published.checkpoints_dir' has value "
                                          f"'{tmp_path / 'nowhere'}': no such folder"):
        resolved_preset(paths(tmp_path / "nowhere", tmp_path))


@needs_published
def test_a_missing_checkpoint_or_histogram_is_named(tmp_path):
    import shutil

    from odesdegap.config import ConfigError

    models, histograms = tmp_path / "checkpoints", tmp_path / "histograms"
    shutil.copytree(CHECKPOINTS, models)
    shutil.copytree(HISTOGRAMS, histograms)
    gone = layout.checkpoint_path(models, "checkerboard", 1.0)
    gone.unlink()
    (histograms / "weights_truth_64_3000000_blob.npy").unlink()
    with pytest.raises(ConfigError) as error:
        resolved_preset(paths(models, histograms))
    assert f"{gone} is missing" in str(error.value)
    assert "weights_truth_64_3000000_blob.npy is missing" in str(error.value)


@needs_published
@pytest.mark.parametrize("overlay,message", [
    ({"model": {"softplus_beta": 10.0}}, "'model.softplus_beta' has value 10.0: expected 100.0"),
    ({"fp_weights": [0.0, 5.0]}, "'fp_weights' has value .*expected weights among 0, 0.1, 1, 10"),
    ({"datasets": ["moons"]}, "'datasets' has value \\['moons'\\]"),
    ({"process": {"t_max": 1.0}}, "'process.t_max' has value 1.0: expected 10.0"),
])
def test_a_config_that_does_not_describe_the_published_runs_is_refused(overlay, message):
    from odesdegap.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        resolved_preset(paths(), overlay)


@needs_published
def test_the_comparison_with_the_authors_table_needs_the_papers_grid():
    from odesdegap.config import ConfigError

    with pytest.raises(ConfigError, match="'evaluation.grid_convention' has value 'cells'"):
        resolved_preset(paths(), {"evaluation": {"grid_convention": "cells"}})

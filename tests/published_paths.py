"""Where the tests find the authors' published models and histograms: ODESDEGAP_PUBLISHED_DIR if
set, else ../shared/published beside the repository (as in our CI), else the project's own copy
(resources/published, which `make published` fills). Tests that need them skip, saying where
they looked, when none is there: a user's fresh clone has none."""

import os
from pathlib import Path

import pytest
import yaml

from odesdegap.published import layout

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = [Path(os.environ["ODESDEGAP_PUBLISHED_DIR"])] if os.environ.get(
    "ODESDEGAP_PUBLISHED_DIR") else [REPO.parent / "shared" / "published", REPO / layout.HOME]
SHARED = next((p for p in CANDIDATES if (p / layout.CHECKPOINTS_FOLDER).is_dir()), CANDIDATES[0])
CHECKPOINTS = SHARED / layout.CHECKPOINTS_FOLDER
HISTOGRAMS = SHARED / layout.HISTOGRAMS_FOLDER


def needs(folder: Path):
    """Skip unless `folder` exists, with the reason printed."""
    return pytest.mark.skipif(
        not folder.is_dir(),
        reason=f"the authors' published files are not here (looked in "
               f"{', '.join(str(p) for p in CANDIDATES)}): `make published` fills the "
               "project's copy, or set ODESDEGAP_PUBLISHED_DIR")


def found_paths() -> dict:
    """The `published` config section pointing at the folders found above, by absolute path."""
    return {"checkpoints_dir": str(CHECKPOINTS), "histograms_dir": str(HISTOGRAMS)}


def paths_overlay(path: Path) -> Path:
    """A config file at `path` pointing the published preset at the folders found above (by
    absolute path, so that a run in a temporary folder finds them)."""
    path.write_text(yaml.safe_dump({"published": found_paths()}))
    return path

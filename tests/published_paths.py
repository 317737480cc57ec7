"""Where the tests find the authors' published models and histograms: ../shared/published
beside the repository (as in CI), or ODESDEGAP_PUBLISHED_DIR. Tests that need them skip, saying
where they looked, only when the folder is absent."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ODESDEGAP_PUBLISHED_DIR", REPO.parent / "shared" / "published"))
CHECKPOINTS = SHARED / "ODESDEGap-checkpoints"
HISTOGRAMS = SHARED / "ODESDEGap-precomputed_dists"


def needs(folder: Path):
    """Skip unless `folder` exists, with the reason printed."""
    return pytest.mark.skipif(
        not folder.is_dir(),
        reason=f"the published folder is not at {folder} (copy teojd/ODESDEGap's folders "
               "there, or set ODESDEGAP_PUBLISHED_DIR)")

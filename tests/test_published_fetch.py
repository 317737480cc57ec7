"""Filling the project's copy of the authors' files: every file verified against the checksums
kept in the repository, nothing replaced on a bad source, a clear way out offline."""

import shutil
from pathlib import Path

import pytest
import yaml

from odesdegap.published import fetch, layout
from published_paths import SHARED, needs

REPO = Path(__file__).resolve().parents[1]


def test_the_checksums_cover_exactly_what_a_run_reads():
    read = {str(p) for p in
            layout.checkpoint_paths(layout.CHECKPOINTS_FOLDER, layout.DATASET_NAMES,
                                    layout.PUBLISHED_WEIGHTS)
            + layout.histogram_paths(layout.HISTOGRAMS_FOLDER, layout.DATASET_NAMES,
                                     layout.PUBLISHED_WEIGHTS)}
    assert set(fetch.expected_files()) == read
    assert all(len(digest) == 64 for digest in fetch.expected_files().values())


def test_the_published_preset_reads_the_projects_copy():
    stated = yaml.safe_load((REPO / "presets/published.yaml").read_text())["published"]
    assert stated == {"checkpoints_dir": str(layout.HOME / layout.CHECKPOINTS_FOLDER),
                      "histograms_dir": str(layout.HOME / layout.HISTOGRAMS_FOLDER)}


def test_an_unreachable_repository_says_what_to_do_instead(tmp_path):
    with pytest.raises(fetch.FetchError) as error:
        fetch.fetch(f"file://{tmp_path}/no-such-repository", tmp_path / "dest")
    message = str(error.value)
    assert "could not fetch" in message and layout.COMMIT in message
    assert "make published PUBLISHED_SOURCE=" in message
    assert not (tmp_path / "dest" / layout.CHECKPOINTS_FOLDER).exists()


def test_a_source_that_is_neither_folder_nor_url_is_named(tmp_path):
    with pytest.raises(fetch.FetchError, match="no-folder: no such folder"):
        fetch.fetch(str(tmp_path / "no-folder"), tmp_path / "dest")


@needs(SHARED)
def test_a_local_copy_is_copied_verified_and_then_left_alone(tmp_path):
    dest = tmp_path / "published"
    assert fetch.main(["--source", str(SHARED), "--dest", str(dest)]) == 0
    assert fetch.problems(dest) == []
    assert "already complete" in fetch.fetch(str(SHARED), dest)[0]


@needs(SHARED)
def test_a_changed_file_is_refused_and_the_old_copy_kept(tmp_path, capsys):
    source, dest = tmp_path / "source", tmp_path / "dest"
    for folder in fetch.FOLDERS:
        shutil.copytree(SHARED / folder, source / folder)
    (dest / layout.CHECKPOINTS_FOLDER).mkdir(parents=True)
    (dest / layout.CHECKPOINTS_FOLDER / "kept").write_text("an earlier, partial copy")
    changed = layout.histogram_path(source / layout.HISTOGRAMS_FOLDER, "truth", "circles")
    changed.write_bytes(changed.read_bytes()[:-1] + b"\x01")
    assert fetch.main(["--source", str(source), "--dest", str(dest)]) == 1
    said = capsys.readouterr().err
    assert f"{changed}: SHA-256" in said and "1 of 39 files" in said
    assert (dest / layout.CHECKPOINTS_FOLDER / "kept").is_file()
    assert not (dest / layout.HISTOGRAMS_FOLDER).exists()

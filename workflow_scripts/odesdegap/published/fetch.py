"""Fill the project's copy of the authors' files (layout.HOME) from their repository at the
pinned commit, or from a local copy of it, and verify every file against the checksums kept
in this repository (files.sha256, `sha256sum -c` format).

    make published [PUBLISHED_SOURCE=URL_OR_FOLDER]

(or, from the repository root, `PYTHONPATH=workflow_scripts python -m
odesdegap.published.fetch [--source URL_OR_FOLDER] [--dest FOLDER]`). Without --source it
clones the authors' repository; offline, point --source at a copy made elsewhere (their
repository at commit 367ce6b, or any folder holding its two folders). Nothing in `--dest` is
replaced until every file of the new copy has been verified.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from odesdegap.io.artifacts import file_digest
from odesdegap.published.layout import (
    CHECKPOINTS_FOLDER,
    COMMIT,
    HISTOGRAMS_FOLDER,
    HOME,
    REPOSITORY,
)

CHECKSUMS = Path(__file__).with_name("files.sha256")
FOLDERS = (CHECKPOINTS_FOLDER, HISTOGRAMS_FOLDER)
GIT_TIMEOUT_S = 120


class FetchError(RuntimeError):
    """The copy could not be made or did not verify; the message says what to do."""


def expected_files() -> dict[str, str]:
    """Relative path -> SHA-256 of every file the project reads from the authors' repository."""
    entries = {}
    for line in CHECKSUMS.read_text().splitlines():
        digest, path = line.split(maxsplit=1)
        entries[path.lstrip("*")] = digest
    return entries


def problems(root: Path) -> list[str]:
    """Every file of `root` that is missing or differs from its checksum."""
    found = []
    for relative, digest in expected_files().items():
        path = root / relative
        if not path.is_file():
            found.append(f"{path}: missing")
        elif (actual := file_digest(path)) != digest:
            found.append(f"{path}: SHA-256 {actual}, expected {digest} (not the authors' file "
                         f"at commit {COMMIT})")
    return found


def _source_root(source: str, scratch: Path) -> Path:
    """The folder holding the two published folders: `source` itself when it is a local
    folder, else a clone of the repository `source` at COMMIT in `scratch`."""
    local = Path(source).expanduser()
    if local.is_dir():
        return local
    if "://" not in source and not source.startswith("git@"):
        raise FetchError(f"--source {source}: no such folder (and not a repository URL)")
    clone = scratch / "clone"
    steps = [["git", "clone", "--quiet", "--no-checkout", source, str(clone)],
             ["git", "-C", str(clone), "checkout", "--quiet", COMMIT, "--", *FOLDERS]]
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    for step in steps:
        try:
            result = subprocess.run(step, capture_output=True, text=True, env=environment,
                                    timeout=GIT_TIMEOUT_S)
        except FileNotFoundError:
            raise FetchError("git is not installed: install it, or download the repository "
                             "elsewhere and pass its folder as --source") from None
        except subprocess.TimeoutExpired:
            result = subprocess.CompletedProcess(step, 1, "", f"no answer in {GIT_TIMEOUT_S} s")
        if result.returncode != 0:
            said = (result.stderr.strip().splitlines() or ["(nothing)"])[-1]
            raise FetchError(
                f"could not fetch {source} at commit {COMMIT} (git: {said}). Offline? On a "
                f"machine with network, download {REPOSITORY} at commit {COMMIT} (git clone, "
                f"then git checkout {COMMIT}), copy it here and run: make published "
                "PUBLISHED_SOURCE=/path/to/ODESDEGap")
    return clone


def fetch(source: str, dest: Path) -> list[str]:
    """Copy the two folders from `source` into `dest`, verified; returns what was done, one
    line each. Raises FetchError, leaving `dest` as it was, on any problem."""
    dest = Path(dest)
    if not problems(dest):
        return [f"{dest}: already complete ({len(expected_files())} files verified)"]
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        _fill(source, dest)
    except FetchError:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        raise
    return [f"{dest}: {len(expected_files())} files copied from {source} and verified "
            f"against {CHECKSUMS.name} (commit {COMMIT})"]


def _fill(source: str, dest: Path) -> None:
    """Stage the files from `source` beside `dest`'s folders, verify them, then swap them in."""
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as scratch:
        scratch = Path(scratch)
        root = _source_root(source, scratch)
        staged = scratch / "staged"
        for relative in expected_files():
            origin = root / relative
            if origin.is_file():
                (staged / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, staged / relative)
        found = problems(staged)
        if found:
            shown = [line.replace(str(staged), str(root)) for line in found]
            raise FetchError(f"{source} is not the authors' repository at commit {COMMIT}: "
                             f"{len(found)} of {len(expected_files())} files missing or "
                             "different:\n  " + "\n  ".join(shown[:10]))
        for folder in FOLDERS:
            shutil.rmtree(dest / folder, ignore_errors=True)
            (staged / folder).rename(dest / folder)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", default=REPOSITORY,
                        help=f"repository URL or local folder (default: {REPOSITORY})")
    parser.add_argument("--dest", type=Path, default=HOME,
                        help=f"the project's copy (default: {HOME}, from the repository root)")
    args = parser.parse_args(argv)
    try:
        done = fetch(args.source, args.dest)
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print("\n".join(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())

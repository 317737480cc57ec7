"""Per-run row files: CSVs whose every row starts with its run, so that a table of many runs
is their concatenation. Apart from artifacts because they need pandas, which a job that writes
arrays does not load."""

from __future__ import annotations

import pandas as pd

from odesdegap.io.artifacts import atomic_path


def write_rows(path, run: dict, rows: list[dict]) -> None:
    """A per-run row file: a CSV whose every row starts with its run (data set, FP weight,
    seed), so that a table of many runs is their concatenation (read_rows)."""
    frame = pd.DataFrame(rows)
    frame = pd.concat([pd.DataFrame([run] * len(frame)), frame], axis=1)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_rows(paths) -> pd.DataFrame:
    """The row files (write_rows) of many runs as one table, in the order given; floats read
    back exactly as written."""
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)

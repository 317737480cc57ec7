"""Per-run row files: CSVs whose every row starts with its run, so that a table of many runs
is their concatenation. Written with the csv module, so that the job writing them (an NFE sweep)
does not load pandas; read back with pandas, by the table jobs."""

from __future__ import annotations

import csv
import math

from odesdegap.io.artifacts import atomic_path


def write_rows(path, run: dict, rows: list[dict]) -> None:
    """A per-run row file: a CSV whose every row starts with its run (data set, FP weight,
    seed), then the rows' columns in their order of first appearance, so that a table of many
    runs is their concatenation (read_rows). Floats are written as repr writes them, which reads
    back exactly; NaN and None as empty fields, as pandas writes them."""
    columns = list(run) + [c for c in dict.fromkeys(k for row in rows for k in row)
                           if c not in run]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({column: _field(value) for column, value in {**run, **row}.items()})


def _field(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return value


def read_rows(paths):
    """The row files (write_rows) of many runs as one table (a pandas DataFrame), in the order
    given; floats read back exactly as written."""
    import pandas as pd

    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)

"""The eta family's table (rule eta_table), read off the runs' metrics table: pandas only, so
the job does not load torch (the study itself is in evaluation.studies)."""

from __future__ import annotations

import pandas as pd


def eta_rows(metrics: pd.DataFrame, members: dict[str, float], reference: str
             ) -> pd.DataFrame:
    """The eta family's table from the runs' metrics table: one row per run and member (a
    sampler with dynamics eta; `members` maps its name to its eta), with its W2^2 to the data
    (w2sq_to_data) and to the reference sampler (w2sq_to_{reference}), its NFE and the samples
    the grid could not use (n_outside: off the grid or non-finite)."""
    rows = []
    for name, eta in sorted(members.items(), key=lambda item: item[1]):
        lost = sum(metrics[c].fillna(0) for c in (f"n_outside_{name}", f"n_nonfinite_{name}")
                   if c in metrics)
        rows.append(pd.DataFrame({
            "dataset": metrics["dataset"], "fp_weight": metrics["fp_weight"],
            "seed": metrics["seed"], "sampler": name, "eta": eta,
            "n_outside": lost if not isinstance(lost, int) else 0,
            "nfe": metrics[f"nfe_{name}"],
            "w2sq_to_data": metrics[f"w2sq_{name}_data"],
            f"w2sq_to_{reference}": metrics[f"w2sq_{name}_{reference}"],
        }))
    return pd.concat(rows, ignore_index=True)

"""Seaborn figures: the paper's sample-density panel, W2^2 against the FP weight, residual
against the ODE–SDE gap, and training curves."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PAIR_LABELS = {
    "w2sq_ode_sde": "ODE–SDE",
    "w2sq_ode_data": "ODE–data",
    "w2sq_sde_data": "SDE–data",
}


def sample_densities(panels: list[tuple[float, np.ndarray, np.ndarray]], reference: np.ndarray,
                     half_width: float, bins: int, title: str):
    """One row per weight: SDE and ODE sample histograms side by side (the paper's main
    figure), with the held-out data in the first row for comparison."""
    sns.set_theme(style="white")
    rows = len(panels) + 1
    fig, axes = plt.subplots(rows, 2, figsize=(5.2, 2.5 * rows), squeeze=False,
                             sharex=True, sharey=True)
    limits = (-half_width, half_width)

    def draw(ax, samples, label):
        finite = samples[np.isfinite(samples).all(axis=1)]
        sns.histplot(x=finite[:, 0], y=finite[:, 1], bins=bins, binrange=(limits, limits),
                     cmap="mako_r", ax=ax, stat="density")
        ax.set(xlim=limits, ylim=limits, aspect="equal", xticks=[], yticks=[])
        ax.set_title(label, fontsize=9)

    draw(axes[0, 0], reference, "data (held out)")
    axes[0, 1].axis("off")
    for row, (weight, sde, ode) in enumerate(panels, start=1):
        draw(axes[row, 0], sde, f"SDE, w = {weight:g}")
        draw(axes[row, 1], ode, f"ODE, w = {weight:g}")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def w2_against_weight(frame: pd.DataFrame):
    """W2^2 for the three pairs against the FP weight, one panel per data set (mean and 95% CI
    over seeds)."""
    sns.set_theme(style="whitegrid")
    long = frame.melt(id_vars=["dataset", "fp_weight", "seed"], value_vars=list(PAIR_LABELS),
                      var_name="pair", value_name="W2^2")
    long["pair"] = long["pair"].map(PAIR_LABELS)
    grid = sns.relplot(data=long, x="fp_weight", y="W2^2", hue="pair", col="dataset",
                       kind="line", marker="o", errorbar=("ci", 95), height=3.2,
                       facet_kws={"sharey": False})
    positive = frame["fp_weight"][frame["fp_weight"] > 0]
    linthresh = positive.min() if len(positive) else 1.0
    for ax in grid.axes.flat:
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_yscale("log")
        ax.set_xlabel("FP weight w_R")
    return grid.figure


def residual_against_gap(frame: pd.DataFrame):
    """FP residual against ODE–SDE W2^2 across runs, log-log (the paper: they fall together)."""
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(5, 4))
    sns.scatterplot(data=frame.assign(fp_weight=frame["fp_weight"].astype(str)),
                    x="fp_residual", y="w2sq_ode_sde", hue="fp_weight", style="dataset",
                    s=70, ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="FP residual (mean R^2)",
           ylabel="ODE–SDE W2^2")
    fig.tight_layout()
    return fig


def training_curves(histories: pd.DataFrame):
    """DSM loss and FP residual during training, one panel per data set and quantity."""
    sns.set_theme(style="whitegrid")
    long = histories.melt(id_vars=["dataset", "fp_weight", "seed", "step"],
                          value_vars=["dsm", "residual_total"], var_name="quantity")
    long["fp_weight"] = long["fp_weight"].astype(str)
    grid = sns.relplot(data=long, x="step", y="value", hue="fp_weight", row="quantity",
                       col="dataset", kind="line", errorbar=None, height=2.6,
                       facet_kws={"sharey": "row"})
    grid.set(yscale="log")
    return grid.figure

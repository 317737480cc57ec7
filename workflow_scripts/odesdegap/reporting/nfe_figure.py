"""The NFE study's figure: W2^2 to the data against the NFE budget, one line per FP weight, one
panel per (data set, sampler), with the noise floor of a distance to the data as a dashed line,
so a reader sees at which budget the weights separate by more than the noise, and each weight's
level with the run's own ODE sampler (the first of the config's `gap`: the paper's Euler ODE,
890 NFE in its presets, by default) as a dotted line in its colour, so the fast solvers read
against it. The panels of a row share their y-axis. Saved with `figures.save`."""

from __future__ import annotations

import pandas as pd
from matplotlib.lines import Line2D

from odesdegap.data.datasets import EXACT_LANE
from odesdegap.reporting.gap import Gap
from odesdegap.reporting.plotting import plt, sns

FLOOR_LABEL = "floor, with data"
EXACT_LABEL = "exact score"


def reference_levels(metrics: pd.DataFrame | None, gap: Gap) -> tuple[dict, str]:
    """{(data set, FP weight): seed-mean W2^2 to the data of the gap's first sampler (the run's
    own ODE)} from the metrics table, and the legend's label with that sampler's NFE; empty
    without it."""
    sampler = gap.first
    column = f"w2sq_{sampler}_data"
    if metrics is None or column not in metrics:
        return {}, ""
    levels = metrics.assign(fp_weight=metrics.fp_weight.astype(float)).groupby(
        ["dataset", "fp_weight"])[column].apply(lambda v: v.mean(skipna=False))
    nfe = metrics.get(f"nfe_{sampler}")
    label = f"{sampler} sampler" + ("" if nfe is None else f", {int(nfe.max())} NFE")
    return levels.to_dict(), label


def nfe_figure(rows: pd.DataFrame, gap: Gap, metrics: pd.DataFrame | None = None):
    """Rows of the grid: data sets; columns: samplers (the configured names). Each point is the
    mean over seeds of `w2sq_data` at one `nfe_budget`, NaN (a gap in the line) where any seed
    diverged, as in nfe_findings. A (data set, sampler) pair without rows gets no axes; the
    legend sits right of the panels, so `figures.save` keeps it without a tight bounding box.
    The exact lane (no FP weight) is the first row, one black line per panel. With the run's
    `metrics` table, each weight's level with the gap's first sampler (the run's own ODE) is a
    dotted line."""
    sns.set_theme(style="whitegrid")
    rows = rows.assign(fp_weight=rows.fp_weight.astype(float))
    exact = rows.dataset == EXACT_LANE
    datasets = [EXACT_LANE] * bool(exact.any()) + sorted(rows.dataset[~exact].unique())
    samplers = sorted(rows.sampler.unique())
    weights = sorted(rows.fp_weight.dropna().unique())
    colours = dict(zip(weights, sns.color_palette("viridis", len(weights)), strict=True))
    width = 3.2 * len(samplers)
    fig, axes = plt.subplots(len(datasets), len(samplers), squeeze=False, sharey="row",
                             figsize=(width, 2.8 * len(datasets)))
    levels, level_label = reference_levels(metrics, gap)
    for i, dataset in enumerate(datasets):
        for j, sampler in enumerate(samplers):
            ax = axes[i, j]
            panel = rows[(rows.dataset == dataset) & (rows.sampler == sampler)]
            if panel.empty:
                fig.delaxes(ax)
                continue
            means = panel.groupby(["fp_weight", "nfe_budget"], dropna=False).agg(
                w2sq_data=("w2sq_data", lambda v: v.mean(skipna=False)),
                seeds=("seed", "nunique"))
            for weight, line in means.groupby(level="fp_weight", dropna=False):
                line = line.droplevel("fp_weight")
                colour, label = (("black", EXACT_LABEL) if pd.isna(weight)
                                 else (colours[weight], f"w = {weight:g}"))
                ax.plot(line.index, line.w2sq_data, marker="o", markersize=3, color=colour,
                        label=label)
            for weight in weights:
                level = levels.get((dataset, weight))
                if level is not None and pd.notna(level):
                    ax.axhline(level, color=colours[weight], linestyle=":", linewidth=1.2,
                               label=f"{level_label} (dotted)")
            floor = panel.w2sq_floor_data.mean()
            if pd.notna(floor):
                ax.axhline(floor, color="0.35", linestyle="--", linewidth=1, label=FLOOR_LABEL)
            ax.set_xscale("log")
            ax.set_yscale("log")
            n, seeds = panel.n_samples.min(), int(means.seeds.max())
            size = "n = ?" if pd.isna(n) else f"n = {int(n):,}"
            ax.set_title(f"{dataset}, {sampler}\n{size}, {seeds} seed{'s' * (seeds > 1)}",
                         fontsize=9)
            ax.set_xlabel("NFE budget")
            ax.set_ylabel("W2^2 to data")
    handles = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if level_label:  # one grey entry, last, for the dotted lines drawn in each weight's colour
        handles.pop(f"{level_label} (dotted)", None)
        handles[f"{level_label} (dotted)"] = Line2D([], [], color="0.35", linestyle=":")
    # inches kept free right of the panels: the legend's handles and its longest label (about
    # 0.075 inch per character at font size 9), so that no label is cut off
    legend_width = 0.7 + 0.075 * max(map(len, [*handles, "FP weight"]))
    fig.set_size_inches(width + legend_width, fig.get_figheight())
    right = width / (width + legend_width)
    fig.tight_layout(rect=(0, 0, right, 1))
    fig.legend(handles.values(), handles.keys(), loc="upper left", bbox_to_anchor=(right, 1),
               title="FP weight", fontsize=9)
    return fig

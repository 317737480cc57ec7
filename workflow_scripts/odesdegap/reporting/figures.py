"""Seaborn figures: the paper's sample-density panel, sample grids of image data sets, W2^2
against the FP weight, residual against the gap, and training curves. The pair they show is the
config's `gap` (reporting.gap.Gap: the ODE and the SDE by default), named as it labels them."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from odesdegap.io import artifacts
from odesdegap.reporting.gap import Gap, sampler_label
from odesdegap.reporting.plotting import plt, sns
from odesdegap.settings import GridSettings


def pair_labels(gap: Gap) -> dict[str, str]:
    """The three W2^2 columns of the gap's pair and their legend labels (w2sq_ode_sde:
    "ODE–SDE", w2sq_ode_data: "ODE–data", w2sq_sde_data: "SDE–data" for the default gap)."""
    first_data, second_data = gap.data_columns
    return {gap.column: gap.label, first_data: f"{sampler_label(gap.first)}–data",
            second_data: f"{sampler_label(gap.second)}–data"}


def sample_densities(panels: list[tuple[float, np.ndarray, np.ndarray]], reference: np.ndarray,
                     grid: GridSettings, title: str, gap: Gap):
    """One row per weight: the gap's second and first samplers' sample histograms side by side
    (SDE and ODE: the paper's main figure), with the held-out data in the first row for
    comparison; binned like W2's grid."""
    limits = (-grid.box_half_width, grid.box_half_width)
    bins = grid.grid_bins

    def draw(ax, samples):
        finite = samples[np.isfinite(samples).all(axis=1)]
        sns.histplot(x=finite[:, 0], y=finite[:, 1], bins=bins, binrange=(limits, limits),
                     cmap="mako_r", ax=ax, stat="density")
        ax.set(xlim=limits, ylim=limits, aspect="equal")

    return _pair_rows(panels, reference, draw, title, gap, row_height=2.5, sharex=True,
                      sharey=True)


def sampler_panels(weights, second_paths, first_paths
                   ) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(weight, second's samples, first's samples) per weight of the gap's samplers (SDE, ODE
    by default), from the sample files of one data set: the panels of sample_densities and
    sample_grids."""
    return [(weight, artifacts.load_arrays(second)["samples"],
             artifacts.load_arrays(first)["samples"])
            for weight, second, first in zip(weights, second_paths, first_paths, strict=True)]


def _pair_rows(panels, reference, draw, title: str, gap: Gap, row_height: float,
               **subplot_options):
    """The layout of both sampler figures: held-out data alone in the first row, then one row
    per weight with the gap's second sampler's samples left (the SDE's) and its first's right
    (the ODE's); `draw(ax, samples)` fills a panel."""
    sns.set_theme(style="white")
    rows = len(panels) + 1
    fig, axes = plt.subplots(rows, 2, figsize=(5.2, row_height * rows), squeeze=False,
                             **subplot_options)
    cells = [(axes[0, 0], reference, "data (held out)")]
    left, right = sampler_label(gap.second), sampler_label(gap.first)
    for row, (weight, second, first) in enumerate(panels, start=1):
        cells += [(axes[row, 0], second, f"{left}, w = {weight:g}"),
                  (axes[row, 1], first, f"{right}, w = {weight:g}")]
    for ax, samples, label in cells:
        draw(ax, samples)
        ax.set(xticks=[], yticks=[])
        ax.set_title(label, fontsize=9)
    axes[0, 1].axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def tile_images(flat: np.ndarray, image_shape: tuple[int, int, int], columns: int = 8,
                n_images: int = 64) -> np.ndarray:
    """The first `n_images` flat images in [-1, 1] as one (rows*H, columns*W[, 3]) picture in
    [0, 1], a one-pixel gap between images; non-finite pixels show as black."""
    channels, height, width = image_shape
    images = np.nan_to_num(flat[:n_images], nan=-1.0, posinf=1.0, neginf=-1.0)
    images = (np.clip(images, -1, 1) + 1) / 2
    images = images.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    rows = -(-len(images) // columns)
    canvas = np.ones((rows * (height + 1) - 1, columns * (width + 1) - 1, channels))
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + 1), (index % columns) * (width + 1)
        canvas[top:top + height, left:left + width] = image
    return canvas[..., 0] if channels == 1 else canvas


def sample_grids(panels: list[tuple[float, np.ndarray, np.ndarray]], reference: np.ndarray,
                 image_shape: tuple[int, int, int], title: str, gap: Gap, n_images: int = 64):
    """The image counterpart of `sample_densities`: one row per weight, the gap's samplers'
    samples side by side (SDE and ODE), held-out images in the first row."""
    def draw(ax, samples):
        ax.imshow(tile_images(samples, image_shape, n_images=n_images), cmap="gray",
                  vmin=0, vmax=1, interpolation="nearest")

    return _pair_rows(panels, reference, draw, title, gap, row_height=2.7)


def floor_lines(gap: Gap) -> dict[str, tuple[str, str]]:
    """Each noise-floor column's legend label and line style."""
    return {"w2sq_floor": (f"floor, {gap.label}", "-"),
            "w2sq_floor_data": ("floor, with data", "--")}


def w2_against_weight(frame: pd.DataFrame, gap: Gap):
    """W2^2 for the three pairs of the gap's samplers and the data against the FP weight, one
    panel per data set (mean and 95% CI over seeds), with each data set's noise floor at the
    runs' sample size as a line and the band up to twice the floor shaded: values inside it are
    not told apart from noise."""
    sns.set_theme(style="whitegrid")
    labels = pair_labels(gap)
    long = frame.melt(id_vars=["dataset", "fp_weight", "seed"], value_vars=list(labels),
                      var_name="pair", value_name="W2^2")
    long["pair"] = long["pair"].map(labels)
    grid = sns.relplot(data=long, x="fp_weight", y="W2^2", hue="pair", col="dataset",
                       kind="line", marker="o", errorbar=("ci", 95), height=3.2,
                       facet_kws={"sharey": False})
    positive = frame["fp_weight"][frame["fp_weight"] > 0]
    linthresh = positive.min() if len(positive) else 1.0
    for ax in grid.axes.flat:
        ax.set_xscale("symlog", linthresh=linthresh)
        ax.set_xlim(left=-0.3 * linthresh)  # weights are >= 0: no negative decades
        ax.set_yscale("log")
        ax.set_xlabel("FP weight w_R")
    lines = floor_lines(gap)
    for dataset, ax in grid.axes_dict.items():
        _draw_floor(ax, frame[frame["dataset"] == dataset], lines)
    handles, labels = grid.axes.flat[-1].get_legend_handles_labels()
    floor_labels = {label for label, _ in lines.values()} | {_BAND_LABEL}
    extra = [(h, lab) for h, lab in zip(handles, labels, strict=True) if lab in floor_labels]
    if extra and grid.legend is not None:
        old = grid.legend
        pairs = [(h, t.get_text()) for h, t in zip(old.legend_handles, old.texts, strict=True)]
        old.remove()
        grid._legend = None  # seaborn lays out the figure around its new legend
        grid.add_legend(legend_data={label: handle for handle, label in pairs + extra},
                        title=f"pair (n = {_sample_size(frame)})")
    return grid.figure


_BAND_LABEL = "within 2x of the floor"


def _sample_size(frame: pd.DataFrame) -> str:
    sizes = frame["n_floor_points"].dropna().unique() if "n_floor_points" in frame else []
    return ", ".join(f"{int(n)}" for n in sorted(sizes)) or "n/a"


def _draw_floor(ax, runs: pd.DataFrame, lines: dict[str, tuple[str, str]]) -> None:
    """The noise floors of one data set as horizontal lines (`lines`: floor_lines), the band up
    to twice the lower one shaded."""
    floors = {column: runs[column].dropna().mean() for column in lines
              if column in runs and runs[column].notna().any()}
    for column, value in floors.items():
        label, style = lines[column]
        ax.axhline(value, color="0.35", linestyle=style, linewidth=1, label=label)
    if floors:
        bottom, top = ax.get_ylim()
        low, high = min(floors.values()), max(floors.values())
        ax.axhspan(0.1 * low, 2 * high, color="0.5", alpha=0.12, linewidth=0, label=_BAND_LABEL)
        ax.set_ylim(min(bottom, 0.5 * low), max(top, 4 * high))


RESIDUAL_LABELS = {
    "fp_residual": "FP residual, box (mean R^2)",
    "fp_residual_data": "FP residual, near data (mean R^2)",
}


def residual_against_gap(frame: pd.DataFrame, gap: Gap):
    """FP residual against the gap's W2^2 (ODE–SDE) across runs, log-log (the paper: they fall
    together), measured on the paper's box and near the data."""
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    shown = frame.assign(fp_weight=frame["fp_weight"].map(lambda w: f"{w:g}"))
    for ax, (column, label) in zip(axes, RESIDUAL_LABELS.items(), strict=True):
        sns.scatterplot(data=shown, x=column, y=gap.column, hue="fp_weight",
                        style="dataset", s=70, ax=ax, legend=ax is axes[-1])
        ax.set(xscale="log", yscale="log", xlabel=label, ylabel=f"{gap.label} W2^2")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels collide within a decade
    if axes[-1].get_legend() is not None:
        sns.move_legend(axes[-1], "upper left", bbox_to_anchor=(1, 1))
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


def eta_sweep(frame: pd.DataFrame):
    """W2^2 of the eta family's samples to the data and to the reference sampler (the SDE by
    default), against eta, per weight."""
    sns.set_theme(style="whitegrid")
    to = [c for c in frame.columns if c.startswith("w2sq_to_")]
    long = frame.melt(id_vars=["dataset", "fp_weight", "seed", "eta"], value_vars=to,
                      var_name="distance", value_name="W2^2")
    long["distance"] = long["distance"].map(
        {c: "to " + sampler_label(c.removeprefix("w2sq_to_")) for c in to})
    long["fp_weight"] = long["fp_weight"].map(lambda w: f"{w:g}")
    grid = sns.relplot(data=long, x="eta", y="W2^2", hue="fp_weight", style="distance",
                       col="dataset", kind="line", marker="o", errorbar=("ci", 95),
                       height=3.2, facet_kws={"sharey": False})
    for ax in grid.axes.flat:
        ax.set_yscale("log")
        ax.set_xlabel("eta (0: ODE, 1: SDE)")
    return grid.figure


# The PDF's metadata without its creation date: the same figure gives the same bytes on every
# run, as the PNG does, so that two runs' outputs compare file by file.
PDF_METADATA = {"CreationDate": None}


def save(figure, png, pdf, dpi: int = 110) -> None:
    """Write `figure` as PNG (for the report) and as vector PDF (for a paper), each atomically,
    then close it."""
    from odesdegap.io.artifacts import atomic_path

    for path, options in ((png, {"format": "png", "dpi": dpi}),
                          (pdf, {"format": "pdf", "metadata": PDF_METADATA})):
        with atomic_path(path) as tmp:
            figure.savefig(tmp, **options)
    plt.close(figure)

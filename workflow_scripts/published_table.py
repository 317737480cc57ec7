"""The paper's W2^2 table (ODE–SDE, ODE–data, SDE–data per data set and FP weight) from the
authors' published 64 x 64 histograms of 3,000,000 samples, with exact optimal transport between
histograms on the paper's grid of nodes (POT emd2, squared Euclidean cost).

As a command (from the repository root):
    python workflow_scripts/published_table.py [--histograms DIR] [--out table.csv]
where DIR is the authors' `ODESDEGap-precomputed_dists` folder (default: the project's copy,
which `make published` fills); prints a Markdown table and, with --out, writes the CSV (and the
Markdown beside it, .md). Also rule `published_table` of the published preset (see
docs/published.md).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odesdegap.io import artifacts  # noqa: E402
from odesdegap.published import layout, tables  # noqa: E402


def write(frame, csv_path, md_path):
    with artifacts.atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    with artifacts.atomic_path(md_path) as tmp:
        tmp.write_text(markdown(frame))


def markdown(frame) -> str:
    grid = layout.PAPER_GRID
    return (f"W2^2 between the authors' histograms (3,000,000 samples each; {grid.grid_bins} x "
            f"{grid.grid_bins} {grid.grid_convention} on [-{grid.box_half_width}, "
            f"{grid.box_half_width}]^2, exact OT):\n\n"
            + frame.to_markdown(index=False, floatfmt=".5f") + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--histograms", type=Path,
                        default=layout.HOME / layout.HISTOGRAMS_FOLDER,
                        help="the authors' ODESDEGap-precomputed_dists folder (default: "
                             "%(default)s)")
    parser.add_argument("--datasets", nargs="+", default=list(layout.DATASET_NAMES),
                        choices=list(layout.DATASET_NAMES), help="our data-set names")
    parser.add_argument("--weights", nargs="+", type=float,
                        default=list(layout.PUBLISHED_WEIGHTS), help="FP weights")
    parser.add_argument("--out", type=Path, help="CSV to write (Markdown beside it, .md)")
    args = parser.parse_args(argv)
    if not args.histograms.is_dir():
        parser.error(f"--histograms {args.histograms}: no such folder (`make published` fills "
                     "the project's copy)")
    try:
        frame = tables.histogram_table(args.histograms, args.datasets, args.weights)
    except layout.PublishedFileError as error:
        parser.exit(1, f"error: {error}\n")
    if args.out:
        write(frame, args.out, args.out.with_suffix(".md"))
    print(markdown(frame))


if "snakemake" in globals():
    from odesdegap import runtime  # noqa: E402

    sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
    frame = tables.histogram_table(sm.params.histograms_dir, sm.params.datasets,
                                   sm.params.weights)
    write(frame, sm.output.csv, sm.output.markdown)
    print(markdown(frame))
elif __name__ == "__main__":
    main()

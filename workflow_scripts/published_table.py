"""The paper's W2^2 table (ODE–SDE, ODE–data, SDE–data per data set and FP weight) from the
authors' published 64 x 64 histograms of 3,000,000 samples, with exact optimal transport between
histograms on the paper's grid of nodes (POT emd2, squared Euclidean cost).

As a command (from the repository root):
    python workflow_scripts/published_table.py --histograms DIR [--out table.csv]
where DIR is the authors' `ODESDEGap-precomputed_dists` folder; prints a Markdown table and,
with --out, writes the CSV (and the Markdown beside it, .md). Also rule `published_table` of the
published preset (see docs/published.md).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from odesdegap.evaluation import metrics  # noqa: E402
from odesdegap.io import artifacts, published  # noqa: E402


def table(directory, datasets, weights):
    grid = metrics.Grid(published.HISTOGRAM_BINS, published.HISTOGRAM_HALF_WIDTH, "nodes")
    return published.histogram_table(directory, datasets, weights, grid.support,
                                     metrics.w2sq_between_histograms)


def write(frame, csv_path, md_path):
    with artifacts.atomic_path(csv_path) as tmp:
        frame.to_csv(tmp, index=False)
    with artifacts.atomic_path(md_path) as tmp:
        tmp.write_text(markdown(frame))


def markdown(frame) -> str:
    return ("W2^2 between the authors' histograms (3,000,000 samples each; 64 x 64 nodes on "
            "[-3.5, 3.5]^2, exact OT):\n\n" + frame.to_markdown(index=False, floatfmt=".5f")
            + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--histograms", required=True, type=Path,
                        help="the authors' ODESDEGap-precomputed_dists folder")
    parser.add_argument("--datasets", nargs="+", default=list(published.DATASET_NAMES),
                        choices=list(published.DATASET_NAMES), help="our data-set names")
    parser.add_argument("--weights", nargs="+", type=float,
                        default=list(published.PUBLISHED_WEIGHTS), help="FP weights")
    parser.add_argument("--out", type=Path, help="CSV to write (Markdown beside it, .md)")
    args = parser.parse_args(argv)
    if not args.histograms.is_dir():
        parser.error(f"--histograms {args.histograms}: no such folder")
    try:
        frame = table(args.histograms, args.datasets, args.weights)
    except published.PublishedCheckpointError as error:
        parser.exit(1, f"error: {error}\n")
    except FileNotFoundError as error:
        parser.exit(1, f"error: {error.filename}: missing (expected the authors' layout)\n")
    if args.out:
        write(frame, args.out, args.out.with_suffix(".md"))
    print(markdown(frame))


if "snakemake" in globals():
    from odesdegap import runtime  # noqa: E402

    sm, _ = runtime.job(snakemake, computes=False)  # noqa: F821 (injected by Snakemake)
    frame = table(sm.params.histograms_dir, sm.params.datasets, sm.params.weights)
    write(frame, sm.output.csv, sm.output.markdown)
    print(markdown(frame))
elif __name__ == "__main__":
    main()

"""The findings as a document (results/tables/findings.{md,html}): the dicts that
odesdegap.reporting.findings computes, rendered as Markdown or HTML with each value's floor,
marks and caveats, the gap's samplers named as reporting.gap labels them (ODE and SDE for the
default gap). Nothing is computed here."""

from __future__ import annotations

import math
from html import escape

import pandas as pd

from odesdegap.reporting.findings import item_keys
from odesdegap.reporting.gap import Gap, sampler_label
from odesdegap.reporting.tables import LOST_MARK, NEAR_FLOOR_FACTOR, NEAR_FLOOR_MARK, near_floor


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}g}"


def _significance(p, min_p) -> str:
    """A permutation p-value, read against the smallest one these runs allow."""
    if p is None:
        return "p = n/a"
    if min_p is not None and p <= min_p * (1 + 1e-9) and min_p >= 0.05:
        return f"p = {_number(p, 2)}, the smallest attainable"
    return f"p = {_number(p, 2)}" + ("" if p < 0.05 else ", not significant")


def _power_note(item: dict, keys: dict) -> str | None:
    """What one data set's runs cannot show, when even a perfect ranking is not significant."""
    min_p = item.get(keys["weight_min_p"])
    if min_p is None or min_p < 0.05:
        return None
    seeds = "one seed" if item.get("n_seeds") == 1 else f"{item.get('n_seeds')} seeds"
    return (f"With {seeds} per weight and {item.get('n_weights')} weights, the smallest "
            f"attainable permutation p-value is {_number(min_p, 2)}: no trend within this "
            "data set can be significant on its own; the tests across data sets below pool "
            "the evidence.")


def _floor_sentence(item: dict, gap: Gap) -> str:
    if item.get("w2sq_floor") is None:
        return ("No W2^2 noise floor for this data set (no generator of fresh points): "
                "its distances cannot be judged against sampling noise.")
    n = item.get("n_floor_points")
    size = "n/a" if n is None else f"{int(n)}"
    return (f"Noise floor at the runs' sample size (n = {size}): W2^2 "
            f"{_number(item['w2sq_floor'])} "
            f"between two independent held-out sets (the floor of {gap.label}), "
            f"{_number(item.get('w2sq_floor_data'))} between one and the held-out reference "
            f"(the floor of {sampler_label(gap.first)}–data and {sampler_label(gap.second)}–data"
            f"). {NEAR_FLOOR_MARK} marks a value within "
            f"{NEAR_FLOOR_FACTOR:g}x of its floor.")


DEBIASED_RATIO_NOTE = (
    "The debiased ratio divides debiased W2^2 values (the plug-in minus a cross-fitted estimate "
    "of its upward bias, docs/noise_floor.md), so it is not pulled towards 1 by the bias near "
    "the floor. Its interval is Student's t over seeds with several seeds, and Fieller's from "
    "the two estimates' standard errors with one (unbounded where the gap at weight 0 is not "
    "clearly above zero); one seed's interval holds no training variance.")


def debiased_ratio_text(row: dict) -> str:
    """'0.08 (0.05-0.11)': the debiased gap ratio with its 95% interval."""
    low, high = row.get("debiased_ratio_low"), row.get("debiased_ratio_high")
    bounded = all(v is not None and math.isfinite(v) for v in (low, high))
    interval = f"{_number(low, 2)} to {_number(high, 2)}" if bounded else "unbounded"
    return f"{_number(row['debiased_ratio'])} ({interval})"


def _reading(row: dict, has_floor: bool) -> str:
    """What a gap ratio is: a measurement, or a bound set by the floor, or not to be trusted
    because a model lost samples; without a floor it cannot be judged."""
    caveats = (["bound (floor)"] if row.get("bound") else []) + (
        [f"lost samples {LOST_MARK}"] if row.get("lost_samples") else [])
    if not has_floor:
        caveats.insert(0, "no floor to judge by")
    return "; ".join(caveats) or "measurement"


def _best_row(best: dict, floor_data) -> dict:
    excluded = ", ".join(f"{w:g}" for w in best["excluded_lost_samples"]) or "none"
    return {"sampler": best["sampler"],
            "best FP weight": "none" if best["best_weight"] is None else f"{best['best_weight']:g}",
            "its W2^2 to data": _marked(best["best_w2sq"], floor_data),
            "at w = 0": _marked(best["w2sq_at_zero"], floor_data),
            "lost samples at w": excluded}


def _marked(value, floor) -> str:
    text = _number(value)
    return f"{text} {NEAR_FLOOR_MARK}" if floor is not None and near_floor(value, floor) else text


def stratified_labels(gap: Gap) -> dict[str, str]:
    """The stratified tests (findings.stratified_test_columns) in words."""
    first, second = (sampler_label(name) for name in gap)
    return {
        "residual_gap": f"FP residual (box) vs {gap.label} W2^2",
        "data_residual_gap": f"FP residual (near data) vs {gap.label} W2^2",
        "gap_weight": f"FP weight vs {gap.label} W2^2",
        f"{gap.first}_weight": f"FP weight vs {first}–data W2^2",
        f"{gap.second}_weight": f"FP weight vs {second}–data W2^2",
    }


def _blocks(found: list[dict], pooled: dict[str, tuple], gap: Gap,
            stratified: dict[str, dict] | None = None) -> list[tuple[str, object]]:
    """The findings as a document: ("h1" | "h2" | "p", text), ("table", DataFrame) and
    ("list", [text]) blocks, rendered to Markdown or HTML below."""
    keys = item_keys(gap)
    pair, first, second = gap.label, sampler_label(gap.first), sampler_label(gap.second)
    blocks = [("h1", "Findings"),
              ("p", "Computed by odesdegap.reporting.findings from results/tables/metrics.csv; "
                    "W2^2 is the squared 2-Wasserstein distance: on the 64 x 64 grid in 2-D, "
                    "exact optimal transport between seeded subsamples in more dimensions. "
                    "Every distance is "
                    "read against its noise floor: the W2^2 between independent held-out sets "
                    "of the data at the same sample size, on the same metric.")]
    for item in found:
        floor_data = item.get("w2sq_floor_data")
        blocks.append(("h2", item["dataset"]))
        blocks.append(("p", _floor_sentence(item, gap)))
        if item["gap_ratio"]:
            blocks.append(("p", f"{pair} W2^2 relative to weight 0 (paired by seed; mean ± 95% "
                                "CI when there are several seeds). A ratio whose gap at this "
                                f"weight or at weight 0 lies within {NEAR_FLOOR_FACTOR:g}x of the "
                                "floor is a bound set by the floor, not a measurement:"))
            rows = []
            for row in item["gap_ratio"]:
                ci = row["ratio_ci95"]
                interval = "" if ci is None or not math.isfinite(ci) else f" ± {_number(ci, 2)}"
                bound = row.get("bound", False)
                rows.append({"FP weight": f"{row['fp_weight']:g}",
                             "ratio to w = 0": f"{_number(row['ratio'])}{interval}"
                                               + (f" {NEAR_FLOOR_MARK}" if bound else ""),
                             **({"debiased ratio (95% interval)": debiased_ratio_text(row)}
                                if "debiased_ratio" in row else {}),
                             "seeds": row["n_seeds"],
                             "reading": _reading(row, item.get("w2sq_floor") is not None)})
            blocks.append(("table", pd.DataFrame(rows)))
            if any("debiased_ratio" in row for row in item["gap_ratio"]):
                blocks.append(("p", DEBIASED_RATIO_NOTE))
        zero = item[keys["w2sq_at_zero"]]
        trend = ", ".join(f"{w:g}: {_marked(v, floor_data)}"
                          for w, v in item[keys["w2sq_by_weight"]].items())
        if item[keys["best_weight"]] is None:
            best = f"Best {first}–data W2^2: none (every weight lost {first} samples)."
        else:
            best = (f"Best {first}–data W2^2: {_marked(item[keys['best_w2sq']], floor_data)} at "
                    f"weight {item[keys['best_weight']]:g}"
                    + (f" (weight 0: {_marked(zero, floor_data)})" if zero is not None else "")
                    + (f"; within {NEAR_FLOOR_FACTOR:g}x of the floor, so not distinguishable "
                       "from a perfect sampler" if item.get(keys["best_near_floor"]) else "")
                    + ".")
        excluded = item.get("excluded_lost_samples") or {}
        if excluded:
            best += (f" Not eligible, having lost {first} samples off the grid or to non-finite "
                     "values (their W2^2 is measured on the rest): "
                     + ", ".join(f"w = {w:g} ({100 * f:.2g}% lost)" for w, f in excluded.items())
                     + ".")
        if len(item.get("best_by_sampler", [])) > 2:
            blocks.append(("p", "Every configured sampler: the FP weight whose samples lie "
                                "closest to the data (models that lost samples are not "
                                f"eligible; {NEAR_FLOOR_MARK}: within {NEAR_FLOOR_FACTOR:g}x of "
                                "the floor):"))
            blocks.append(("table", pd.DataFrame([_best_row(b, floor_data)
                                                  for b in item["best_by_sampler"]])))
        blocks.append(("list", [
            best,
            f"{second}–data W2^2 by weight: {trend}; Spearman rank correlation with the weight "
            f"{_number(item[keys['weight_spearman']])} "
            f"({_significance(item[keys['weight_p']], item.get(keys['weight_min_p']))}).",
            f"FP residual vs {pair} W2^2 across this data set's {item['n_runs']} runs, "
            f"Spearman: {_number(item['residual_gap_spearman'])} "
            f"({_significance(item['residual_gap_p'], item.get('residual_gap_min_p'))}) on the "
            f"box, {_number(item['data_residual_gap_spearman'])} "
            f"({_significance(item['data_residual_gap_p'], item.get('residual_gap_min_p'))}) "
            "near the data.",
        ] + ([note] if (note := _power_note(item, keys)) else [])))
    (box_rho, box_p), (data_rho, data_p) = pooled["fp_residual"], pooled["fp_residual_data"]
    blocks.append(("h2", "Across data sets"))
    blocks.append(("p", f"Pooled over all runs, the FP residual and the {pair} W2^2 have Spearman "
                        f"rank correlation {_number(box_rho)} (p = {_number(box_p, 2)}) on the "
                        f"box and {_number(data_rho)} (p = {_number(data_p, 2)}) near the data. "
                        "Pooling mixes data sets whose distances and residuals sit at different "
                        "levels, and both quantities move with the weight, so the pooled value "
                        "is not evidence on its own; the tests below compare runs within each "
                        "data set only."))
    if stratified:
        labels = stratified_labels(gap)
        rows = [{"test": labels.get(name, name),
                 "mean within-data-set Spearman": _number(test["spearman"]),
                 "p (permuted within data sets)": _number(test["p"], 2),
                 "smallest attainable p": _number(test["min_p"], 2),
                 "data sets": test["n_strata"]}
                for name, test in stratified.items()]
        blocks.append(("table", pd.DataFrame(rows)))
    return blocks


def to_markdown(found: list[dict], pooled: dict[str, tuple], gap: Gap,
                stratified: dict[str, dict] | None = None) -> str:
    lines = []
    for kind, content in _blocks(found, pooled, gap, stratified):
        if kind == "table":
            lines.append(content.to_markdown(index=False, disable_numparse=True,
                                             colalign=["right"] * content.shape[1]))
        elif kind == "list":
            lines.extend(f"- {entry}" for entry in content)
        else:
            lines.append({"h1": "# ", "h2": "## ", "p": ""}[kind] + content)
        lines.append("")
    return "\n".join(lines)


def to_html(found: list[dict], pooled: dict[str, tuple], gap: Gap,
            stratified: dict[str, dict] | None = None) -> str:
    """A standalone page, for the Snakemake report (which shows Markdown as raw text)."""
    parts = []
    for kind, content in _blocks(found, pooled, gap, stratified):
        if kind == "table":
            parts.append(content.to_html(index=False, border=0))
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{escape(e)}</li>" for e in content) + "</ul>")
        else:
            parts.append(f"<{kind}>{escape(content)}</{kind}>")
    return PAGE.format(body="\n".join(parts))


PAGE = ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{{font-family:sans-serif;"
        "margin:1em;max-width:60em}}table{{border-collapse:collapse}}th,td{{padding:3px 10px;"
        "border-bottom:1px solid #ddd;text-align:right}}</style></head><body>{body}</body>"
        "</html>\n")

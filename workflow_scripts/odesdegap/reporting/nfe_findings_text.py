"""The NFE study's findings as markdown (results/tables/nfe_findings.md): sentences and tables
rendered from the dict that odesdegap.reporting.nfe_findings computes, each distance with its
floor and sample count. Nothing is computed here."""

from __future__ import annotations

from odesdegap.reporting.gap import sampler_label


def nfe_findings_markdown(findings: dict) -> str:
    """The findings as sentences and a table, each distance with its floor and sample count."""
    lines = ["## NFE study",
             "",
             "A model beats another only where its W2^2 to the data is lower by more than the "
             "noise floor of a distance to the data (two fresh data sets at the same sample "
             "count); values are means over seeds. A budget where a model diverged (NaN) or lost "
             f"more than {100 * findings['lost_tolerance']:g}% of its samples makes no claim."]
    for group in findings["groups"]:
        seeds = group["seeds"]
        seed_text = (f"one seed ({seeds[0]}): a single draw, no seed-to-seed spread"
                     if len(seeds) == 1 else
                     f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), means over seeds")
        lines += ["", f"### {group['dataset']}, {group['sampler']}"
                  + (f" (solver {group['solver']})" if group["solver"] != group["sampler"] else "")
                  + f"; {seed_text}"
                  + (f"; its grid starts at sigma~ = {group['sigma_max']:.4g}"
                     if group.get("sigma_max") is not None else ""), ""]
        name = f"{group['dataset']}, {group['sampler']}"
        if group["note"]:
            lines.append(f"- {name}: {group['note']}.")
        lines += [f"- {name}: {_beat_sentence(b, group['budgets'])}" for b in group["beats"]]
        for item in group["survival"]:
            lines += [f"- {name}: {s}" for s in _survival_sentences(item, findings)]
        lines += ["", "| w | converged W2^2 (NFE) | within the floor of it from | floor | n |",
                  "|---|---|---|---|---|"]
        for c in group["convergence"]:
            when = (f"NFE {c['nfe_within_floor']}" if c["nfe_within_floor"] is not None
                    else c["status"])
            if c["first_within"] is not None and c["first_within"] != c["nfe_within_floor"]:
                when += f" (first within at NFE {c['first_within']}, then left it)"
            lines.append(f"| {c['fp_weight']:g} | {_num(c['converged_w2sq'])} ({c['b_max']}) "
                         f"| {when} | {_num(c['floor'])} | {_count(c['n_samples'])} |")
    if findings["exact_lane"]:
        factor = findings["near_floor_factor"]
        lines += ["", "### The exact lane: discretisation error alone", "",
                  "The exact score of Gaussian data, so W2^2 to that data is the solver's own "
                  f"error; it is lost in the noise below {factor:g} x the floor of two draws of "
                  "the data.", ""]
        for item in findings["exact_lane"]:
            reached = (f"below {factor:g} x the floor from NFE {item['near_floor_from']} on"
                       if item["near_floor_from"] is not None
                       else "never below it within the budgets measured")
            values = ", ".join(f"{_num(w)} at {b}" for b, w in
                               zip(item["budgets"], item["w2sq_data"], strict=True))
            lines.append(f"- {item['sampler']} ({item['solver']}): {reached} ({values}; floor "
                         f"{_num(item['floor'])}, {_count(item['n_samples'])} samples).")
    return "\n".join(lines) + "\n"


def _beat_sentence(beat: dict, budgets: list[int]) -> str:
    w = f"w={beat['fp_weight']:g}"
    span = f"NFE {budgets[0]}–{budgets[-1]}" if len(budgets) > 1 else f"NFE {budgets[0]}"
    at = beat["at_shown"]
    if beat["first_beat_budget"] is None:
        if at is None:
            return (f"{w} is never compared with w=0 (diverged, lost samples or no floor at "
                    "every budget).")
        return (f"{w} never beats w=0 beyond the floor within {span} (closest at NFE "
                f"{beat['shown_budget']}: {_pair(at)}).")
    first = beat["first_beat_budget"]
    if beat["from_on"]:
        return f"{w} beats w=0 from NFE {first} on ({_pair(at)})."
    return (f"{w} beats w=0 at NFE {', '.join(map(str, beat['beaten_budgets']))} only, first at "
            f"NFE {first} ({_pair(at)}).")


def _survival_sentences(item: dict, findings: dict) -> list[str]:
    w = f"w={item['fp_weight']:g}"
    if not findings["has_reference"]:
        return [f"{w}: no {'/'.join(findings['gap'])} reference given; survival at NFE "
                f"{', '.join(str(a['nfe_budget']) for a in item['at'])} not assessed."]
    sentences = []
    for sampler, claim in item["reference"].items():
        nfe = claim and claim.get("nfe")
        label = f"run's {sampler_label(sampler)} sampler" + (f" ({nfe} NFE)" if nfe else "")
        if claim is None:
            sentences.append(f"{w}: no {label} result for this weight or for w=0.")
            continue
        verdict = ("holds" if claim["holds"] else "does not hold (within the floor)"
                   if None not in (claim["advantage"], claim["floor"])
                   and claim["advantage"] <= claim["floor"]
                   else "does not hold (diverged, lost samples or no floor)")
        parts = []
        for at in item["at"]:
            if not at["measured"]:
                parts.append(f"NFE {at['nfe_budget']} not measured")
            elif not at["compared"]:
                parts.append(f"NFE {at['nfe_budget']} not compared (diverged or lost samples)")
            else:
                outcome = {True: "survives", False: "does not survive"}.get(
                    at["survives"][sampler],
                    "beyond the floor" if at["beyond_floor"] else "within the floor")
                parts.append(f"at NFE {at['nfe_budget']} {outcome}: {_pair(at)}")
        sentences.append(f"{w}'s advantage at the {label} {verdict} ({_pair(claim)}); "
                         + "; ".join(parts) + ".")
    return sentences


def _pair(c: dict) -> str:
    return (f"{_num(c['w2sq'])} vs {_num(c['w2sq_zero'])}, margin {_num(c['advantage'])}, "
            f"floor {_num(c['floor'])}, {_count(c['n_samples'])} samples")


def _num(value) -> str:
    return "NaN" if value is None else f"{value:.3g}"


def _count(value) -> str:
    return "n/a" if value is None else f"{int(value):,}"

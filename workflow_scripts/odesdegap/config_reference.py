"""docs/configuration.md, generated from the schema's descriptions and defaults, so the reference
cannot drift from what the code enforces. Regenerate with `make docs`
(`python -m odesdegap.config_reference > docs/configuration.md`); a test checks it is current."""

from __future__ import annotations

import json

from odesdegap.config_checks import load_schema

INTRO = """# Configuration reference

Generated from `workflow_scripts/odesdegap/config_schema.yaml` by `make docs`; do not edit by
hand. The schema is the one source of every default and every choice: `config.yaml` states the
schema's default for each key it lists (a test keeps them equal), and a preset (`--configfile
presets/X.yaml`) is merged over `config.yaml` key by key, as Snakemake's `update_config` does
(`odesdegap.config.resolve(*files)` gives the same resolved config in Python). Each model's
`model.json` records the run's whole resolved config. A malformed config stops before any job
with one line per problem naming the key, the value and what was expected; unknown keys are
errors.

| key | default | allowed | meaning |
| --- | --- | --- | --- |
"""


def _value(value) -> str:
    if value is None:
        return "null"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _allowed(node: dict) -> str:
    if "anyOf" in node:
        return " or ".join(_allowed(option) for option in node["anyOf"])
    if "enum" in node:
        return ", ".join(_value(v) for v in node["enum"])
    if "pattern" in node:
        return f"a name matching `{node['pattern']}`"
    items = node.get("items", {})
    if "anyOf" in items or "enum" in items:
        return "list of: see meaning"
    bounds = [f"{word} {node[key]}" for key, word in (
        ("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
        ("exclusiveMaximum", "<")) if key in node]
    kind = node.get("type", "")
    kind = " or ".join(kind) if isinstance(kind, list) else kind
    return " ".join([kind, *bounds]).strip()


def _rows(node: dict, prefix: str, required: set[str]):
    for key, sub in node.get("properties", {}).items():
        name = f"{prefix}{key}"
        if sub.get("type") == "object" and "properties" in sub:
            yield from _rows(sub, f"{name}.", set(sub.get("required", [])))
            continue
        default = "required" if key in required else _value(sub.get("default"))
        meaning = " ".join(sub.get("description", "").split()).replace("|", "\\|")
        yield f"| `{name}` | {default} | {_allowed(sub)} | {meaning} |"
        entries = sub.get("additionalProperties")
        if isinstance(entries, dict) and "properties" in entries:
            # a mapping of named entries (samplers): the keys of each entry
            yield from _rows(entries, f"{name}.<name>.", set(entries.get("required", [])))


def reference_markdown(schema: dict | None = None) -> str:
    """The whole of docs/configuration.md."""
    schema = schema or load_schema()
    return INTRO + "\n".join(_rows(schema, "", set(schema.get("required", [])))) + "\n"


if __name__ == "__main__":
    print(reference_markdown(), end="")

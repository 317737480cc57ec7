"""Repository hygiene that CI enforces: the pins are mirrored in the conda environment, the
package declares what it imports, the licence and citation are in place. (The linters run
from `make lint`, which CI runs before the tests.)"""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _pins(lines):
    return sorted(line.strip() for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line.strip()))


def test_conda_environment_mirrors_requirements():
    requirements = _pins((REPO / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "envs" / "benchmark.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == requirements
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge", "nodefaults"]


DEV_TOOLS = {"pytest", "pytest-xdist", "execnet", "hypothesis", "snakefmt", "ruff"}


def _names(pins):
    return {pin.split("==")[0].lower() for pin in pins}


def test_development_tools_are_apart_from_the_runtime():
    runtime = _names(_pins((REPO / "requirements.txt").read_text().splitlines()))
    dev = _names(_pins((REPO / "requirements-dev.txt").read_text().splitlines()))
    assert dev == DEV_TOOLS and not runtime & DEV_TOOLS


def test_the_package_declares_what_the_library_imports():
    """pyproject's dependencies are requirements.txt's pins, and every third-party module the
    library imports is among them (jsonschema included)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = set(_pins((REPO / "requirements.txt").read_text().splitlines()))
    declared = set(project["dependencies"])
    assert declared <= requirements
    assert set(project["optional-dependencies"]["workflow"]) | declared == requirements
    distribution = {"ot": "pot", "cleanfid": "clean-fid", "yaml": "pyyaml",
                    "sklearn": "scikit-learn"}
    imported = set()
    for source in (REPO / "workflow_scripts" / "odesdegap").glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = {name for name in imported
                   if name not in sys.stdlib_module_names and name not in {"odesdegap"}}
    assert third_party, "no imports found"
    # odesdegap.config.merged uses Snakemake's own merge, so the `workflow` extra counts too.
    workflow = set(project["optional-dependencies"]["workflow"])
    missing = {distribution.get(name, name) for name in third_party} - _names(declared | workflow)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert "jsonschema" in _names(declared)


def _runtime_closure() -> set[str]:
    """The distributions `make run` installs: requirements.txt and, recursively, what each
    needs (no extras), read from the installed packages' metadata."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen, todo = set(), list(_names(_pins((REPO / "requirements.txt").read_text().splitlines())))
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _third_party_imports(*sources: Path) -> set[str]:
    modules = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != "odesdegap"}


def test_the_runtime_requirements_cover_the_report_and_the_bench():
    """`make report` (snakemake --report) and `make bench` run in the environment `make run`
    made: the report's extra of snakemake and every module the rules' scripts, the library and
    the benchmark import come with requirements.txt, none only with the development tools."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    closure = _runtime_closure()
    report_needs = {canonicalize_name(Requirement(line).name)
                    for line in metadata.requires("snakemake")
                    if 'extra == "reports"' in line}
    assert report_needs and report_needs <= closure, report_needs - closure
    owners = metadata.packages_distributions()
    sources = [*(REPO / "workflow_scripts").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]
    modules = _third_party_imports(*sources)
    assert {"torch", "snakemake", "docutils"} <= modules
    missing = {m for m in modules
               if not {canonicalize_name(d) for d in owners.get(m, [])} & closure}
    assert not missing, f"imported but not installed by requirements.txt: {missing}"


def test_supported_python_versions_include_the_running_one():
    from packaging.specifiers import SpecifierSet

    supported = SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())
                             ["project"]["requires-python"])
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in supported
    assert "3.10" not in supported  # numpy, scipy, pandas and snakemake need 3.11


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "requirements-dev.txt"):
        lines = [line.split("#")[0].strip()
                 for line in (REPO / name).read_text().splitlines()]
        assert all("==" in line for line in lines if line), name


def test_license_and_citation():
    assert (REPO / "LICENSE").read_text().startswith("MIT License")
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    paper = citation["preferred-citation"]
    assert paper["volume"] == 383 and paper["year"] == 2025
    assert [a["family-names"] for a in paper["authors"]] == [
        "Deveney", "Stanczuk", "Kreusser", "Budd", "Schönlieb"]
    assert any(i["value"] == "arXiv:2311.15996"
               for r in citation["references"] for i in r.get("identifiers", []))
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_installs_dev_tools_for_tests_and_lint_only(tmp_path):
    """`make run` installs the runtime pins only; `make test`, `make lint` and `make gpu-check`
    add requirements-dev.txt (read from `make -n`, which installs nothing)."""
    def plan(target):
        result = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}"], cwd=REPO,
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "-r requirements.txt" in plan("run") and "requirements-dev.txt" not in plan("run")
    for target in ("test", "lint", "gpu-check"):
        assert "-r requirements.txt" in plan(target)
        assert "-r requirements-dev.txt" in plan(target)

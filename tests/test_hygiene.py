"""Repository hygiene that CI enforces: the pins are mirrored in the conda environment, and the
workflow and the code are lint-clean."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _pins(lines):
    return sorted(line.strip() for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line.strip()))


def test_conda_environment_mirrors_requirements():
    requirements = _pins((REPO / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "envs" / "benchmark.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip_section) == requirements
    assert "python=3.11" in env["dependencies"]


def test_every_requirement_is_pinned():
    lines = [line.split("#")[0].strip()
             for line in (REPO / "requirements.txt").read_text().splitlines()]
    assert all("==" in line for line in lines if line)


@pytest.mark.parametrize("command", [
    ["snakemake", "--lint"],
    ["snakefmt", "--check", "Snakefile", "rules"],
    ["ruff", "check", "workflow_scripts", "tests"],
], ids=["snakemake-lint", "snakefmt", "ruff"])
def test_linters_pass(command):
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

"""What a workflow job imports before it starts working: the scripts the rules run and each
one's import statements, replayed in a fresh process. Shared by tests/test_startup.py (a job
that does not compute with torch must not load it) and `make bench` (start-up per job kind)."""

import ast
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow_scripts"

# The scripts that compute with torch (train, sample, evaluate the model) or read torch files
# (import_published converts the authors' checkpoints); every other one must not load torch.
TORCH_SCRIPTS = frozenset({
    "evaluate.py",
    "evaluate_fid.py",
    "import_published.py",
    "nfe_sweep.py",
    "reference_features.py",
    "sample.py",
    "train.py",
    "train_classifier.py",
})


def rule_scripts() -> list[str]:
    """The file names of the scripts the rules run (rules/*.smk `script:`), sorted."""
    names = set()
    for rules in (REPO / "rules").glob("*.smk"):
        names |= set(re.findall(r"script:\s*\n\s*\"\.\./workflow_scripts/(\w+\.py)\"",
                                rules.read_text()))
    return sorted(names)


def imports_of(name: str) -> list[str]:
    """The script's import statements (at any depth, so conditional ones count), as source."""
    tree = ast.parse((SCRIPTS / name).read_text())
    return [ast.unparse(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))]


# Printed by the probe after the imports: which heavy modules are loaded.
_REPORT = ("backend = sys.modules.get('ot.backend')\n"
           "print({name: name in sys.modules"
           " for name in ('torch', 'pandas', 'matplotlib', 'seaborn', 'scipy.stats', 'sklearn',"
           " 'networkx')}"
           " | {'ot': backend is not None,"
           " 'ot_torch': backend is not None and backend.torch is not False})")


def import_probe(name: str) -> tuple[float, dict]:
    """Seconds a fresh Python process takes to import what script `name` imports, and which
    heavy modules it then holds (torch, pandas, matplotlib, seaborn, SciPy's statistics,
    scikit-learn, networkx, POT and POT's torch backend). The environment has no POT backend
    switches: the library must set them itself."""
    source = "\n".join(["import sys", f"sys.path.insert(0, {str(SCRIPTS)!r})",
                        *imports_of(name), _REPORT])
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("POT_BACKEND_DISABLE")}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                            env=env, cwd=REPO, check=True)
    seconds = time.perf_counter() - start
    return seconds, ast.literal_eval(result.stdout.strip().splitlines()[-1])


def startup_table(repeats: int = 3) -> None:
    """Print, for each script the rules run, its import seconds (best of `repeats`) and
    whether it loads torch (`make bench`, section 6, runs this file)."""
    print(f"  {'script':26s} {'imports (s)':>11s}  loads torch")
    for name in rule_scripts():
        seconds, loaded = min((import_probe(name) for _ in range(repeats)), key=lambda r: r[0])
        kind = "yes" if loaded["torch"] else "no"
        if loaded["torch"] != (name in TORCH_SCRIPTS):
            kind += " (unexpected)"
        print(f"  {name:26s} {seconds:11.2f}  {kind}", flush=True)


if __name__ == "__main__":
    startup_table()

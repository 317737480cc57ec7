"""`make gpu-check` on a machine without CUDA: it runs, skips the CUDA parts, says so in its
record, and measures its short run on the CPU at reduced shapes (not projected)."""

import pytest
import torch

import gpu_check


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU path; on CUDA make gpu-check runs")
def test_gpu_check_runs_its_cpu_path_and_says_what_it_skipped(tmp_path):
    output = gpu_check.main(["--skip-tests", "--cpu-steps", "3", "--threads", "1",
                             "--output", str(tmp_path / "gpu_check.md")])
    record = output.read_text()
    assert "No CUDA device here" in record
    assert "skipped: no CUDA device" in record
    assert "not projected" in record
    assert f"| torch | {torch.__version__} |" in record
    assert f"| batch size | {gpu_check.TINY['batch_size']} |" in record
    for measure in ("training steps/s, DSM only", "training steps/s, DSM + FP residual",
                    "sampling samples/s, ODE", "sampling samples/s, SDE"):
        line = next(line for line in record.splitlines() if line.startswith(f"| {measure} |"))
        assert float(line.split("|")[2].replace(",", "")) > 0


def test_projection_of_the_paper_preset_from_measured_speeds():
    paper = gpu_check.preset_config(gpu_check.REPO / "presets/paper.yaml")
    figures = {"training steps/s, DSM only": 100.0, "training steps/s, DSM + FP residual": 50.0,
               "sampling samples/s, ODE": 1e6, "sampling samples/s, SDE": 1e6}
    projection = gpu_check.projected_hours(paper, figures)
    runs = len(paper["datasets"]) * len(paper["seeds"])
    zero = sum(float(w) == 0 for w in paper["fp_weights"])
    nonzero = len(paper["fp_weights"]) - zero
    steps = paper["training"]["steps"]
    assert projection["models"] == runs * len(paper["fp_weights"])
    assert projection["training (GPU-hours)"] == pytest.approx(
        runs * (zero * steps / 100 + nonzero * steps / 50) / 3600)
    assert projection["sampling, ODE and SDE (GPU-hours)"] == pytest.approx(
        projection["models"] * paper["sampling"]["n_samples"] * 2e-6 / 3600)

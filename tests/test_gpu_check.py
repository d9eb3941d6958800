"""bench/gpu_check.py: without a GPU it says so in one line and exits 0; its comparison measures what it says."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_without_a_gpu_it_says_so_in_one_line_and_exits_0():
    proc = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [proc.stdout.strip()] and proc.stdout.startswith("gpu_check: skipped, ")
    assert "GPU" in proc.stdout and proc.stderr == ""


def rows(n: int) -> np.ndarray:
    """n output rows: boxes 10 px apart, scores falling from 0.9, classes cycling 0, 1, 2."""
    i = np.arange(n, dtype=np.float32)
    return np.stack([i * 10, i * 10, i * 10 + 5, i * 10 + 5, 0.9 - i * 0.001, i % 3], axis=1)[None]


def test_identical_outputs_agree_fully():
    found = load_script().compare(rows(300), rows(300))
    assert (found.box, found.score, found.classes) == (0.0, 0.0, 1.0)


def test_differences_are_the_largest_ones_and_classes_count_only_on_the_top_rows():
    reference = rows(300)
    engine = reference.copy()
    engine[0, 7, 2] += 0.75  # a box edge
    engine[0, 250, 4] -= 0.125  # a low-ranked score
    engine[0, [1, 2], 5] = 9  # two of the top rows change class
    engine[0, 299, 5] = 9  # outside the top 100: not counted
    found = load_script().compare(engine, reference, top=100)
    assert found.box == 0.75 and found.score == np.float32(0.125) and found.classes == 0.98


def test_worst_takes_the_worst_image_of_each_measure():
    gpu = load_script()
    found = gpu.worst([gpu.Agreement(0.1, 0.5, 0.99), gpu.Agreement(0.3, 0.2, 1.0)])
    assert (found.box, found.score, found.classes) == (0.3, 0.5, 0.99)

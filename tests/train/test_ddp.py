"""DDP through torchrun: two CPU processes on the gloo backend train one run; rank 0 alone writes."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path, demo_data, tiny_cfg, quick_hyp):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun not installed beside this python")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
           "-m", "y7deploy.train", "--data", str(demo_data), "--cfg", str(tiny_cfg), "--hyp", str(quick_hyp),
           "--epochs", "1", "--batch-size", "4", "--img-size", "64", "--device", "cpu", "--workers", "0",
           "--project", str(tmp_path / "runs"), "--name", "ddp"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["ddp"]  # rank 1 created no run directory of its own
    d = tmp_path / "runs" / "ddp"
    with open(d / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 1  # one row: only rank 0 wrote
    assert (d / "weights" / "last.pt").is_file() and (d / "weights" / "best.pt").is_file()
    assert r.stdout.count("Results saved to") == 1
    assert "world 2" in r.stdout, r.stdout

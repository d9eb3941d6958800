"""`lab up` on a machine that lacks a kernel feature stops before touching anything:
one line saying what is needed, exit 2. No lab needed for these."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from y7deploy.lab.lab import missing_filesystems

Y7 = Path(sys.executable).parent / "y7deploy"


def test_missing_filesystems_reads_proc_filesystems():
    text = "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n"
    assert missing_filesystems(text) == []
    assert missing_filesystems(text.replace("overlay", "fuse")) == ["overlay"]
    assert missing_filesystems("\text4\n") == ["overlay", "tmpfs"]


def test_kernel_without_overlayfs_is_one_clear_line(tmp_path):
    """/proc/filesystems without overlay (bind-mounted over in a private mount namespace,
    so the real kernel is untouched) -> exit 2 with one line, and no lab state made."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    fake = tmp_path / "filesystems"
    fake.write_text("".join(line for line in Path("/proc/filesystems").read_text().splitlines(True)
                            if line.split()[-1] != "overlay"))
    script = f"mount --bind {fake} /proc/filesystems && exec {Y7} lab up --name y7nokernel"
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: the lab needs overlay in the kernel (not in /proc/filesystems; modprobe overlay)"]
    from y7deploy.lab import Lab

    assert not Lab("y7nokernel").state_dir.exists()


def test_a_qdisc_the_kernel_lacks_is_named(tmp_path):
    """netem is not in this kind of kernel (the reason `slow` uses tbf): asking for it in a
    throwaway network namespace gives the one-line NotAvailable, not a tc traceback."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("tc") is None:
        pytest.skip("needs root, unshare(1) and tc")
    from y7deploy.errors import NotAvailable
    from y7deploy.lab import network

    ns = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        for _ in range(50):  # wait until sleep runs inside the new namespace
            if os.readlink(f"/proc/{ns.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.05)
        network.shape("lo", "1mbit", netns_pid=ns.pid)  # tbf is there
        assert "tbf" in network.qdisc("lo", netns_pid=ns.pid)
        try:
            network.set_root_qdisc("lo", "netem", "delay", "10ms", netns_pid=ns.pid)
        except NotAvailable as exc:
            assert str(exc) == "the lab needs the kernel's netem qdisc (modprobe sch_netem)"
        else:
            pytest.skip("this kernel has netem")
    finally:
        ns.kill()
        ns.wait()

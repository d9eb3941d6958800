"""Each profile presents what a real Jetson of that kind presents, at the real paths."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import lab_kit as kit

from y7deploy.lab import PROFILES

pytestmark = pytest.mark.lab

EXPECTED = {  # profile: (L4T release, revision, CUDA dir, TensorRT x.y, DeepStream dir, compute)
    "nano-jp461": ("32", "7.4", "10.2", "8.2", "6.0", "5.3"),
    "xavier-nx-jp513": ("35", "5.0", "11.4", "8.5", "6.3", "7.2"),
    "orin-nano-jp61": ("36", "4.0", "12.6", "10.3", "7.1", "8.7"),
    "agx-orin-jp62": ("36", "4.3", "12.6", "10.3", "7.1", "8.7"),
    "orin-nano-super-jp62": ("36", "4.3", "12.6", "10.3", "7.1", "8.7"),
}
# TensorRT's packages as each JetPack's apt repository versions them: TensorRT 8's library
# packages carry three parts; JetPack 6 ships TensorRT 10.3 built against CUDA 12.5.
TRT_PACKAGES = {
    "nano-jp461": {"tensorrt": "8.2.1.9-1+cuda10.2", "libnvinfer8": "8.2.1-1+cuda10.2"},
    "xavier-nx-jp513": {"tensorrt": "8.5.2.2-1+cuda11.4", "libnvinfer8": "8.5.2-1+cuda11.4"},
    "orin-nano-jp61": {"tensorrt": "10.3.0.30-1+cuda12.5", "libnvinfer10": "10.3.0.30-1+cuda12.5"},
    "agx-orin-jp62": {"tensorrt": "10.3.0.30-1+cuda12.5", "libnvinfer10": "10.3.0.30-1+cuda12.5"},
    "orin-nano-super-jp62": {"tensorrt": "10.3.0.30-1+cuda12.5", "libnvinfer10": "10.3.0.30-1+cuda12.5"},
}


def test_profile_facts_read_back(lab):
    for h in lab.hosts:
        release, revision, cuda, trt, ds, compute = EXPECTED[h.profile]
        p = PROFILES[h.profile]
        sh = lambda cmd: lab.root(h.name, cmd).stdout  # noqa: E731

        first = sh("head -1 /etc/nv_tegra_release")
        m = re.match(r"^# R(\d+) \(release\), REVISION: ([\d.]+), GCID: \d+, BOARD: (\w+), "
                     r"EABI: aarch64, DATE: .+$", first.strip())
        assert m and m.groups() == (release, revision, p.board), first
        assert sh("tr -d '\\0' < /sys/firmware/devicetree/base/model") == p.model
        soc = {"5.3": "nvidia,tegra210", "7.2": "nvidia,tegra194", "8.7": "nvidia,tegra234"}[compute]
        assert sh("tr '\\0' ' ' < /sys/firmware/devicetree/base/compatible").split()[-1] == soc

        versions = dict(line.split("\t") for line in sh(
            "dpkg-query -W -f='${Package}\\t${Version}\\n' nvidia-l4t-core tensorrt "
            f"deepstream-{ds}").splitlines())
        assert versions["nvidia-l4t-core"].startswith(f"{release}.{revision}-")
        assert versions["tensorrt"].startswith(trt + ".")
        assert versions[f"deepstream-{ds}"].startswith(ds)

        assert sh(f"test -x /usr/local/cuda-{cuda}/bin/nvcc && readlink /usr/local/cuda").strip() == \
            f"/usr/local/cuda-{cuda}"
        assert f"release {cuda}," in sh("/usr/local/cuda/bin/nvcc --version")
        assert sh("readlink /opt/nvidia/deepstream/deepstream").strip() == f"deepstream-{ds}"
        assert sh(f"cat /opt/nvidia/deepstream/deepstream-{ds}/version").startswith(f"Version: {ds}")
        assert f"TensorRT Version: {trt}" in sh("deepstream-app --version-all")
        assert sh("test -x /usr/src/tensorrt/bin/trtexec && echo yes").strip() == "yes"
        q = sh("nvpmodel -q").splitlines()
        assert q == [f"NV Power Mode: {p.nvpmodel[0][1]}", str(p.nvpmodel[0][0])]
        assert compute == p.compute


def packages(lab, host: str, names) -> dict[str, str]:
    out = lab.root(host, "dpkg-query -W -f='${Package}\\t${Version}\\n' " + " ".join(names)).stdout
    return dict(line.split("\t") for line in out.splitlines())


def test_tensorrt_packages_are_versioned_as_nvidia_ships_them(lab):
    for h in lab.hosts:
        assert packages(lab, h.name, TRT_PACKAGES[h.profile]) == TRT_PACKAGES[h.profile], h.profile


def test_cuda_version_file_matches_nvcc(lab):
    for h in lab.hosts:
        nvcc = re.search(r", V([\d.]+)", lab.root(h.name, "/usr/local/cuda/bin/nvcc --version").stdout).group(1)
        if EXPECTED[h.profile][2] == "10.2":  # CUDA 10.2 has version.txt, 11 on version.json
            assert lab.root(h.name, "cat /usr/local/cuda/version.txt").stdout == f"CUDA Version {nvcc}\n"
        else:
            doc = json.loads(lab.root(h.name, "cat /usr/local/cuda/version.json").stdout)
            assert doc["cuda"]["version"] == nvcc


def test_nvpmodel_on_orin_asks_before_a_mode_that_needs_a_reboot(lab, lab_host):
    h = lab_host("agx-orin-jp62")
    boot_id = lab.get(h.name, "/proc/sys/kernel/random/boot_id")
    declined = subprocess.run(lab.ssh_command(h.name, "echo no | sudo nvpmodel -m 1"), capture_output=True,
                              text=True, timeout=60)
    assert declined.returncode == 0
    assert declined.stdout.splitlines() == ["NVPM WARN: Reboot required for changing to this power mode: 1",
                                            "NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:"]
    assert lab.root(h.name, "nvpmodel -q").stdout.splitlines()[0] == "NV Power Mode: MAXN"
    subprocess.run(lab.ssh_command(h.name, "echo YES | sudo nvpmodel -m 1"), capture_output=True, timeout=60)
    kit.wait_rebooted(lab, h.name, boot_id)
    try:
        assert lab.get(h.name, "/proc/sys/kernel/random/boot_id") != boot_id
        assert lab.root(h.name, "nvpmodel -q").stdout.splitlines() == ["NV Power Mode: MODE_15W", "1"]
    finally:  # back to MAXN: a mode that needs no reboot on the way there
        assert lab.root(h.name, "nvpmodel -m 0 < /dev/null").stdout == ""
    assert lab.root(h.name, "nvpmodel -q").stdout.splitlines()[0] == "NV Power Mode: MAXN"


def test_orin_nano_super_profile(tmp_path):
    """A throwaway one-host lab (the shared one has no fifth host): JetPack 6.2's Orin Nano
    in Super mode reports its own model string."""
    import os

    from y7deploy.lab import Lab

    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    lab = Lab(f"y7super{os.getpid() % 100000}")
    try:
        (h,) = lab.up(hosts=1, profiles=["orin-nano-super-jp62"], log=lambda *_: None)
        out = subprocess.run(lab.ssh_command(h.name, "tr -d '\\0' < /sys/firmware/devicetree/base/model; echo; "
                                                     "nvpmodel -q; head -1 /etc/nv_tegra_release"),
                             capture_output=True, text=True, timeout=60).stdout.splitlines()
        assert out[0] == "NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super"
        assert out[1:3] == ["NV Power Mode: MAXN_SUPER", "2"]
        assert out[3].startswith("# R36 (release), REVISION: 4.3,")
        assert packages(lab, h.name, TRT_PACKAGES[h.profile]) == TRT_PACKAGES[h.profile]
    finally:
        lab.down(log=lambda *_: None)

"""Each profile presents what a real Jetson of that kind presents, at the real paths."""

from __future__ import annotations

import re

import pytest

from y7deploy.lab import PROFILES

pytestmark = pytest.mark.lab

EXPECTED = {  # profile: (L4T release, revision, CUDA dir, TensorRT x.y, DeepStream dir, compute)
    "nano-jp461": ("32", "7.4", "10.2", "8.2", "6.0", "5.3"),
    "xavier-nx-jp513": ("35", "5.0", "11.4", "8.5", "6.3", "7.2"),
    "orin-nano-jp61": ("36", "4.0", "12.6", "10.3", "7.1", "8.7"),
    "agx-orin-jp62": ("36", "4.3", "12.6", "10.3", "7.1", "8.7"),
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
        assert versions["tensorrt"].startswith(trt + ".") and f"+cuda{cuda}" in versions["tensorrt"]
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

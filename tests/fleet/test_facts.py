"""Jetson facts: parsing the one-command output, and each lab profile read back over SSH."""

from __future__ import annotations

import pytest

import fleet_kit as kit
from y7deploy.fleet import facts


ORIN_OUTPUT = """@@tegra
# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025
@@l4tcore
36.4.3-20250107174145
@@model
NVIDIA Jetson AGX Orin Developer Kit
@@compatible
nvidia,p3737-0000+p3701-0005 nvidia,p3701-0005 nvidia,tegra234
@@cuda
{
   "cuda" : {
      "name" : "CUDA SDK",
      "version" : "12.6.68"
   },
   "cuda_cccl" : {
      "version" : "12.6.37"
   }
}
/usr/local/cuda-12.6
@@trt
libnvinfer10 10.3.0.30-1+cuda12.5 ii
tensorrt 10.3.0.30-1+cuda12.5 ii
@@ds
Version: 7.1
/opt/nvidia/deepstream/deepstream-7.1
@@disk
/dev/mmcblk0p1   59000000 20000000  36000000      36% /
@@mem
MemTotal:       64335836 kB
MemAvailable:   60000000 kB
@@nvp
NVPM WARN: fan mode is not set!
NV Power Mode: MAXN
0
@@os
ubuntu
22.04
aarch64
agx01
"""


def test_parse_real_orin_output():
    f = facts.parse(ORIN_OUTPUT)
    assert f["l4t"] == "36.4.3" and f["jetpack"] == "6.2"
    assert f["soc"] == "tegra234" and f["compute_capability"] == "8.7"
    assert f["cuda"] == "12.6.68" and f["tensorrt"] == "10.3.0.30"
    assert f["deepstream"] == "7.1" and f["deepstream_path"] == "/opt/nvidia/deepstream/deepstream-7.1"
    assert f["disk_free_opt_mb"] == 36000000 // 1024 and f["mem_total_mb"] == 64335836 // 1024
    assert f["power_mode"] == "MAXN" and f["power_mode_id"] == 0
    assert f["arch"] == "aarch64" and f["hostname"] == "agx01"


def test_l4t_falls_back_to_dpkg_and_unknown_jetpack_is_major_only():
    f = facts.parse("@@tegra\n@@l4tcore\n35.9.9-20990101\n@@model\nNVIDIA Jetson Xavier NX\n")
    assert f["l4t"] == "35.9.9" and f["jetpack"] == "5.x"
    assert f["soc"] == "tegra194" and f["compute_capability"] == "7.2"


def test_not_a_jetson_has_empty_facts():
    f = facts.parse("@@tegra\n@@l4tcore\n@@model\n@@trt\n@@ds\n")
    assert not f["is_jetson"] and f["jetpack"] == "" and f["tensorrt"] == "" and f["deepstream"] == ""


def test_tensorrt_from_libnvinfer_when_no_meta_package():
    f = facts.parse("@@trt\nlibnvinfer8 8.5.2-1+cuda11.4 ii\nlibnvinfer7 7.1.3-1 rc\n")
    assert f["tensorrt"] == "8.5.2"


@pytest.mark.lab
def test_each_lab_profile_reads_back(lab, tmp_path):
    from y7deploy.lab.profiles import PROFILES

    gathered = kit.Fleet(lab, tmp_path).facts()
    assert set(gathered) == {h.name for h in lab.hosts}
    for host in lab.hosts:
        p = PROFILES[host.profile]
        f = gathered[host.name]
        assert f["l4t"] == p.l4t, host
        assert f["jetpack"] == p.jetpack, host
        assert f["model"] == p.model
        assert f["compute_capability"] == p.compute
        assert f["cuda"] == p.cuda
        assert f["tensorrt"] == p.tensorrt
        assert f["deepstream"] == p.deepstream
        assert f["deepstream_path"] == f"/opt/nvidia/deepstream/deepstream-{p.ds_short}"
        assert f["soc"] == "tegra234" if p.compute == "8.7" else f["soc"].startswith("tegra")
        assert f["power_mode"] == p.nvpmodel[0][1] and f["power_mode_id"] == p.nvpmodel[0][0]
        assert f["disk_free_opt_mb"] > 0 and f["mem_total_mb"] > 0

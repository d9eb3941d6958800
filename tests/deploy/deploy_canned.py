"""Canned inputs of the deploy tests: facts as fleet.facts parses them from answers a
device of each JetPack profile gives (written here by hand), a release manifest and its files."""

from __future__ import annotations

from y7deploy.deploy.plan import PushOptions
from y7deploy.fleet import facts as fleet_facts

MiB = 2**20
SHA_SRC = "5e1f00aa11bb22cc"


def facts(tegra: str, model: str, cuda_json: str, trt: str, ds: str, free_kb: int) -> dict:
    """Facts as fleet.facts parses them from a device's answers (written here by hand)."""
    out = f"""@@tegra
{tegra}
@@l4tcore

@@model
{model}
@@compatible

@@cuda
{cuda_json}
@@trt
tensorrt {trt}-1+cuda ii
@@ds
Version: {ds}
/opt/nvidia/deepstream/deepstream-{ds[:3]}
@@disk
/dev/mmcblk0p1 30000000 10000000 {free_kb} 34% /
@@mem
MemTotal: 3964656 kB
@@os
ubuntu
20.04
aarch64
cam
"""
    return fleet_facts.parse(out)


NANO = facts("# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64, DATE: x",
             "NVIDIA Jetson Nano Developer Kit", "CUDA Version 10.2.300", "8.2.1.9", "6.0.1", 8_000_000)
XAVIER = facts("# R35 (release), REVISION: 5.0, GCID: 1, BOARD: t186ref, EABI: aarch64, DATE: x",
               "NVIDIA Jetson Xavier NX Developer Kit", '{"cuda": {"name": "CUDA SDK", "version": "11.4.315"}}',
               "8.5.2.2", "6.3", 8_000_000)
ORIN_NANO = facts("# R36 (release), REVISION: 4.0, GCID: 1, BOARD: generic, EABI: aarch64, DATE: x",
                  "NVIDIA Jetson Orin Nano Developer Kit", '{"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}',
                  "10.3.0.30", "7.1", 8_000_000)
ONNX_SHA = "ab" * 32


def manifest(**change) -> dict:
    m = {"schema": 1, "id": "yolov7-tiny-2", "name": "yolov7-tiny", "version": "2", "nc": 3,
         "names": ["person", "car", "bicycle"], "batch": 1, "dynamic_batch": False, "opset": 12,
         "input_size": [640, 640], "precision": "fp16",
         "input": {"name": "images", "net_scale_factor": 0.0039215697906911373}}
    m.update(change)
    return m


def files(onnx_mib: int = 25, extra: dict | None = None) -> dict:
    out = {"model.onnx": {"path": "/rel/model.onnx", "sha256": ONNX_SHA, "size": onnx_mib * MiB},
           "labels.txt": {"path": "/rel/labels.txt", "sha256": "cd" * 32, "size": 19},
           "manifest.json": {"path": "/rel/manifest.json", "sha256": "ef" * 32, "size": 1500}}
    out.update(extra or {})
    return out


CAMERA = [{"uri": "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"}]
OPTS = PushOptions(parser_sha=SHA_SRC)


def fleet(**hosts_facts):
    return {h: f for h, f in hosts_facts.items()}, {h: {"y7_sources": CAMERA} for h in hosts_facts}


def keyfile(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = groups.setdefault(line.strip("[]"), {})
        elif line and not line.startswith("#"):
            k, _, v = line.partition("=")
            current[k] = v
    return groups

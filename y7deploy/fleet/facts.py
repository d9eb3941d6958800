"""Jetson facts, read with ONE remote command per host.

The command prints labelled sections (`@@name` lines); everything is parsed here on the
workstation, so a host needs nothing but a POSIX shell and coreutils. Versions come from
where JetPack itself keeps them: /etc/nv_tegra_release (fallback: the nvidia-l4t-core
package), the device-tree model, /usr/local/cuda, the TensorRT packages, DeepStream's
version file, `nvpmodel -q`.
"""

from __future__ import annotations

import re
from typing import Any

# L4T release -> JetPack, as jetson_stats (rbonghi/jetson_stats) tabulates it from NVIDIA's
# JetPack archive; later entries from the same archive.
L4T_TO_JETPACK = {
    "36.4.4": "6.2.1", "36.4.3": "6.2", "36.4.2": "6.1 (rev1)", "36.4.0": "6.1", "36.3.0": "6.0",
    "36.2.0": "6.0 DP", "36.0.0": "6.0 EA",
    "35.6.1": "5.1.5", "35.6.0": "5.1.4", "35.5.0": "5.1.3", "35.4.1": "5.1.2", "35.3.1": "5.1.1",
    "35.2.1": "5.1", "35.1.0": "5.0.2 GA", "34.1.1": "5.0.1 DP", "34.1.0": "5.0 DP",
    "32.7.6": "4.6.6", "32.7.5": "4.6.5", "32.7.4": "4.6.4", "32.7.3": "4.6.3", "32.7.2": "4.6.2",
    "32.7.1": "4.6.1", "32.6.1": "4.6", "32.5.2": "4.5.1", "32.5.1": "4.5.1", "32.5.0": "4.5",
    "32.4.4": "4.4.1", "32.4.3": "4.4", "32.4.2": "4.4 DP", "32.3.1": "4.3", "32.2.3": "4.2.3",
    "32.2.1": "4.2.2", "32.2.0": "4.2.1", "32.1.0": "4.2",
}

# SoC -> CUDA compute capability (jetson_stats' CUDA_TABLE), and how to tell the SoC from
# the device-tree model when `compatible` does not name it.
SOC_COMPUTE = {"tegra234": "8.7", "tegra194": "7.2", "tegra186": "6.2", "tegra210": "5.3",
               "tegra124": "3.2"}
MODEL_SOC = (("orin", "tegra234"), ("xavier", "tegra194"), ("tx2", "tegra186"),
             ("nano", "tegra210"), ("tx1", "tegra210"), ("tk1", "tegra124"))

VERSIONS_SCRIPT = r"""
echo @@tegra; head -n1 /etc/nv_tegra_release 2>/dev/null
echo @@l4tcore; [ -r /etc/nv_tegra_release ] || dpkg-query -W -f='${Version}' nvidia-l4t-core 2>/dev/null; echo
echo @@model; for f in /proc/device-tree/model /sys/firmware/devicetree/base/model; do [ -r $f ] && { tr -d '\000' < $f; echo; break; }; done
echo @@compatible; for f in /proc/device-tree/compatible /sys/firmware/devicetree/base/compatible; do [ -r $f ] && { tr '\000' ' ' < $f; echo; break; }; done
echo @@cuda; cat /usr/local/cuda/version.json /usr/local/cuda/version.txt 2>/dev/null; readlink -f /usr/local/cuda 2>/dev/null
echo @@trt; dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\n' tensorrt 'libnvinfer[0-9]*' 2>/dev/null
echo @@ds; cat /opt/nvidia/deepstream/deepstream/version 2>/dev/null; readlink -f /opt/nvidia/deepstream/deepstream 2>/dev/null
echo @@disk; df -Pk /opt 2>/dev/null | tail -n1
echo @@mem; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo
echo @@os; . /etc/os-release 2>/dev/null; echo "$ID"; echo "$VERSION_ID"; uname -m; uname -n
"""
POWER_MODE_SCRIPT = """echo @@nvp; (nvpmodel -q || /usr/sbin/nvpmodel -q) 2>/dev/null
"""
# Every fact; VERSIONS_SCRIPT alone leaves power_mode empty (a rollout plans nothing from it).
SCRIPT = VERSIONS_SCRIPT + POWER_MODE_SCRIPT + "true\n"


def sections(output: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("@@"):
            current = line[2:].strip()
            found[current] = []
        elif current is not None and line.strip():
            found[current].append(line.strip())
    return found


def parse_l4t(tegra_line: str, l4t_core: str) -> str:
    match = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", tegra_line)
    if match:
        release, revision = match.group(1), match.group(2)
        version = f"{release}.{revision}"
        return version if version.count(".") >= 2 else version + ".0"
    if l4t_core:
        return l4t_core.split("-")[0]
    return ""


def jetpack_for(l4t: str) -> str:
    if l4t in L4T_TO_JETPACK:
        return L4T_TO_JETPACK[l4t]
    major = l4t.split(".")[0]
    return {"32": "4.x", "35": "5.x", "36": "6.x"}.get(major, "")


def soc_for(model: str, compatible: str) -> str:
    match = re.search(r"tegra\d{3}", compatible)
    if match:
        return match.group(0)
    lowered = model.lower()
    for word, soc in MODEL_SOC:
        if word in lowered:
            return soc
    return ""


def _cuda(lines: list[str]) -> str:
    text = "\n".join(lines)
    match = re.search(r'"cuda"\s*:\s*\{[^}]*?"version"\s*:\s*"([\d.]+)"', text, re.S) or \
        re.search(r"CUDA Version ([\d.]+)", text) or re.search(r"cuda-([\d.]+)\s*$", text, re.M)
    return match.group(1) if match else ""


def _tensorrt(lines: list[str]) -> str:
    versions = {}
    for line in lines:
        parts = line.split()
        if len(parts) >= 3 and parts[2].startswith("ii"):
            versions[parts[0]] = parts[1].split("-")[0]
    if "tensorrt" in versions:
        return versions["tensorrt"]
    libs = sorted((k for k in versions if k.startswith("libnvinfer")), reverse=True)
    return versions[libs[0]] if libs else ""


def _deepstream(lines: list[str]) -> tuple[str, str]:
    version = path = ""
    for line in lines:
        match = re.match(r"Version:\s*([\d.]+)", line)
        if match:
            version = match.group(1)
        elif line.startswith("/"):
            path = line
    return version, path


def _power_mode(lines: list[str]) -> tuple[str, str]:
    """`nvpmodel -q` prints `NV Power Mode: MAXN` then the mode id on the next line."""
    for i, line in enumerate(lines):
        if line.startswith("NV Power Mode:"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            return line.split(":", 1)[1].strip(), following if following.isdigit() else ""
    return "", ""


def _kib_line(lines: list[str], key: str) -> int:
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1]) // 1024
    return 0


def parse(output: str) -> dict[str, Any]:
    """Facts from the output of SCRIPT. Missing pieces are empty, never a guess."""
    sec = sections(output)
    first = lambda name: (sec.get(name) or [""])[0]  # noqa: E731
    l4t = parse_l4t(first("tegra"), first("l4tcore"))
    model = first("model")
    soc = soc_for(model, first("compatible"))
    ds_version, ds_path = _deepstream(sec.get("ds", []))
    disk = first("disk").split()
    mode_name, mode_id = _power_mode(sec.get("nvp", []))
    os_lines = sec.get("os", []) + ["", "", "", ""]
    return {
        "is_jetson": bool(l4t),
        "l4t": l4t,
        "jetpack": jetpack_for(l4t) if l4t else "",
        "model": model,
        "soc": soc,
        "compute_capability": SOC_COMPUTE.get(soc, ""),
        "cuda": _cuda(sec.get("cuda", [])),
        "tensorrt": _tensorrt(sec.get("trt", [])),
        "deepstream": ds_version,
        "deepstream_path": ds_path,
        "disk_free_opt_mb": int(disk[3]) // 1024 if len(disk) >= 4 and disk[3].isdigit() else 0,
        "mem_total_mb": _kib_line(sec.get("mem", []), "MemTotal"),
        "mem_available_mb": _kib_line(sec.get("mem", []), "MemAvailable"),
        "power_mode": mode_name,
        "power_mode_id": int(mode_id) if mode_id else None,
        "os": os_lines[0],
        "os_version": os_lines[1],
        "arch": os_lines[2],
        "hostname": os_lines[3],
    }


def ansible_names(facts: dict[str, Any]) -> dict[str, Any]:
    """The few standard Ansible fact names a playbook written for Ansible may use."""
    return {
        "ansible_hostname": facts.get("hostname", ""),
        "ansible_architecture": facts.get("arch", ""),
        "ansible_distribution": facts.get("os", "").capitalize(),
        "ansible_distribution_version": facts.get("os_version", ""),
        "ansible_memtotal_mb": facts.get("mem_total_mb", 0),
    }


def gather(run) -> dict[str, Any]:
    """Facts of one host; `run(command) -> (rc, stdout, stderr)` is the host's connection."""
    rc, out, err = run(SCRIPT)
    if rc != 0 and not out:
        raise RuntimeError(f"fact gathering failed: {err.strip()}")
    return parse(out)

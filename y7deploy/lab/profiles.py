"""JetPack profiles: what a real Jetson of each kind presents at its real paths.

Each profile is written once per lab into a layer of its own (an overlayfs lower dir
between the shared Debian base and each host's writable layer).  The stand-ins for
the NVIDIA programs read /etc/y7deploy-lab/profile.json to know which TensorRT and GPU
they pretend to be.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from y7deploy.errors import UserError
from y7deploy.lab.native import write_native

HERE = Path(__file__).parent
STANDINS = HERE / "standins"
STUBS = HERE / "stubs"


@dataclass(frozen=True)
class Profile:
    name: str
    model: str  # /proc/device-tree/model
    board: str  # BOARD in nv_tegra_release
    l4t: str  # e.g. "32.7.4"
    l4t_gcid: str
    l4t_date: str
    jetpack: str
    cuda: str  # full version, e.g. "10.2.300"
    cudnn: str
    tensorrt: str  # full version, e.g. "8.2.1.9"
    deepstream: str  # e.g. "6.0.1"
    compute: str  # compute capability, e.g. "5.3"
    nvpmodel: tuple[tuple[int, str], ...]  # (id, name); the first is the current mode
    compatible: tuple[str, ...] = ()  # /proc/device-tree/compatible, most specific first
    dla_cores: int = 0  # NVDLA engines TensorRT can use (--useDLACore=N, N below this)
    trt_cuda: str = ""  # the CUDA in TensorRT's package versions, when it isn't the toolkit's
    reboot_modes: tuple[int, ...] = ()  # nvpmodel -m IDs that need a reboot (Orin)

    @property
    def cuda_short(self) -> str:
        return ".".join(self.cuda.split(".")[:2])

    @property
    def trt_short(self) -> str:
        return ".".join(self.tensorrt.split(".")[:2])

    @property
    def ds_short(self) -> str:
        return ".".join(self.deepstream.split(".")[:2])

    @property
    def group(self) -> str:
        """The Ansible group name: groups may not contain dashes."""
        return self.name.replace("-", "_").replace(".", "_")


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="nano-jp461", model="NVIDIA Jetson Nano Developer Kit", board="t210ref",
            l4t="32.7.4", l4t_gcid="33514132", l4t_date="Fri Jun  9 04:25:08 UTC 2023",
            jetpack="4.6.4", cuda="10.2.300", cudnn="8.2.1.32", tensorrt="8.2.1.9",
            deepstream="6.0.1", compute="5.3", nvpmodel=((0, "MAXN"), (1, "5W")),
            compatible=("nvidia,p3449-0000-b00+p3448-0000-b00", "nvidia,jetson-nano", "nvidia,tegra210"),
            dla_cores=0,
        ),
        Profile(
            name="xavier-nx-jp513", model="NVIDIA Jetson Xavier NX Developer Kit", board="t186ref",
            l4t="35.5.0", l4t_gcid="35550185", l4t_date="Tue Feb 20 04:46:31 UTC 2024",
            jetpack="5.1.3", cuda="11.4.315", cudnn="8.6.0.166", tensorrt="8.5.2.2",
            deepstream="6.3", compute="7.2",
            nvpmodel=((8, "MODE_20W_6CORE"), (0, "MODE_15W_2CORE"), (2, "MODE_15W_6CORE")),
            compatible=("nvidia,p3509-0000+p3668-0001", "nvidia,tegra194"),
            dla_cores=2,
        ),
        Profile(
            name="orin-nano-jp61", model="NVIDIA Jetson Orin Nano Developer Kit", board="generic",
            l4t="36.4.0", l4t_gcid="37537400", l4t_date="Fri Sep 13 04:36:44 UTC 2024",
            jetpack="6.1", cuda="12.6.68", cudnn="9.3.0.75", tensorrt="10.3.0.30",
            deepstream="7.1", compute="8.7", nvpmodel=((0, "15W"), (1, "7W")),
            compatible=("nvidia,p3768-0000+p3767-0005", "nvidia,p3767-0005", "nvidia,tegra234"),
            dla_cores=0, trt_cuda="12.5", reboot_modes=(1,),
        ),
        Profile(
            name="orin-nano-super-jp62",
            model="NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super", board="generic",
            l4t="36.4.3", l4t_gcid="38968081", l4t_date="Wed Jan  8 01:49:37 UTC 2025",
            jetpack="6.2", cuda="12.6.68", cudnn="9.3.0.75", tensorrt="10.3.0.30",
            deepstream="7.1", compute="8.7",
            nvpmodel=((2, "MAXN_SUPER"), (0, "15W"), (1, "25W"), (3, "7W")),
            compatible=("nvidia,p3768-0000+p3767-0005-super", "nvidia,p3767-0005", "nvidia,tegra234"),
            dla_cores=0, trt_cuda="12.5", reboot_modes=(3,),
        ),
        Profile(
            name="agx-orin-jp62", model="NVIDIA Jetson AGX Orin Developer Kit", board="generic",
            l4t="36.4.3", l4t_gcid="38968081", l4t_date="Wed Jan  8 01:49:37 UTC 2025",
            jetpack="6.2", cuda="12.6.68", cudnn="9.3.0.75", tensorrt="10.3.0.30",
            deepstream="7.1", compute="8.7",
            nvpmodel=((0, "MAXN"), (1, "MODE_15W"), (2, "MODE_30W"), (3, "MODE_50W")),
            compatible=("nvidia,p3737-0000+p3701-0005", "nvidia,p3701-0005", "nvidia,tegra234"),
            dla_cores=2, trt_cuda="12.5", reboot_modes=(1,),
        ),
    )
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UserError(f"unknown lab profile {name!r}; known: {', '.join(PROFILES)}") from None


def nv_tegra_release(p: Profile) -> str:
    """/etc/nv_tegra_release as L4T writes it: release, revision, build id, board, date."""
    major, minor, patch = p.l4t.split(".")
    head = (f"# R{major} (release), REVISION: {minor}.{patch}, GCID: {p.l4t_gcid}, "
            f"BOARD: {p.board}, EABI: aarch64, DATE: {p.l4t_date}\n")
    if int(major) >= 36:
        head += "# KERNEL_VARIANT: oot\n"
    if int(major) >= 35:
        head += ("TARGET_USERSPACE_LIB_DIR=nvidia\n"
                 "TARGET_USERSPACE_LIB_DIR_PATH=usr/lib/aarch64-linux-gnu/nvidia\n")
    return head


def _dpkg_entries(p: Profile, arch: str) -> str:
    """dpkg status stanzas for the NVIDIA packages fact gathering looks at.

    The architecture is the container's own (a foreign arch would hide the packages
    from a plain `dpkg-query -W NAME`).
    """
    cuda_tag = f"cuda{p.trt_cuda or p.cuda_short}"
    # TensorRT 8's library packages carry three parts (8.5.2-1+cuda11.4), TensorRT 10's four
    # (10.3.0.30-1+cuda12.5, as JetPack 6 ships them).
    trt3 = ".".join(p.tensorrt.split(".")[:3 if int(p.tensorrt.split(".")[0]) < 10 else 4])
    trt_major = p.tensorrt.split(".")[0]
    built = datetime.datetime.strptime(" ".join(p.l4t_date.split()), "%a %b %d %H:%M:%S UTC %Y")
    l4t_deb = f"{p.l4t}-{built:%Y%m%d%H%M%S}"  # as L4T's debs are versioned
    pkgs = [
        ("nvidia-l4t-core", l4t_deb, "NVIDIA Core Package"),
        ("nvidia-jetpack", f"{p.jetpack}-b1", "NVIDIA Jetpack Meta Package"),
        ("cuda-toolkit-" + p.cuda_short.replace(".", "-"), p.cuda + "-1", "CUDA Toolkit meta-package"),
        ("tensorrt", f"{p.tensorrt}-1+{cuda_tag}", "Meta package for TensorRT"),
        (f"libnvinfer{trt_major}", f"{trt3}-1+{cuda_tag}", "TensorRT runtime libraries"),
        (f"libnvinfer-bin", f"{trt3}-1+{cuda_tag}", "TensorRT binaries"),
        (f"deepstream-{p.ds_short}", f"{p.deepstream}-1", "NVIDIA DeepStream SDK"),
    ]
    out = []
    for name, version, desc in pkgs:
        out.append(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\n"
            f"Section: libs\nInstalled-Size: 1024\nMaintainer: NVIDIA Corporation\n"
            f"Architecture: {arch}\nVersion: {version}\n"
            f"Description: {desc} (y7deploy lab stand-in entry)\n"
        )
    return "\n".join(out) + "\n"


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def _install_script(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o755)


def write_profile_layer(dest: Path, p: Profile, base: Path) -> None:
    """Write what a host of profile `p` presents: `dest/root` (an overlayfs lower dir)
    and `dest/firmware` (bound over /sys/firmware, where the device-tree model lives)."""
    if dest.exists():
        shutil.rmtree(dest)
    layer = dest / "root"
    layer.mkdir(parents=True)
    for d in (dest, layer):
        os.chmod(d, 0o755)
    facts = asdict(p) | {"cuda_short": p.cuda_short, "trt_short": p.trt_short,
                         "ds_short": p.ds_short}
    _write(layer / "etc/y7deploy-lab/profile.json", json.dumps(facts, indent=2) + "\n")
    _write(layer / "etc/nv_tegra_release", nv_tegra_release(p))
    # Ubuntu's PATH for every login (pam_env), sbin included: `nvpmodel -q` works for users.
    _write(layer / "etc/environment", 'PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:'
                                      '/sbin:/bin:/usr/games:/usr/local/games:/snap/bin"\n')
    # On a Jetson /proc/device-tree links to /sys/firmware/devicetree/base; a container
    # can't add to /proc, so the model is found at the firmware path it links to.
    _write(dest / "firmware/devicetree/base/model", p.model + "\0")
    _write(dest / "firmware/devicetree/base/compatible", "".join(c + "\0" for c in p.compatible))
    _write(layer / "etc/y7deploy-lab/device-tree-model", p.model + "\n")

    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True).stdout.strip() or "amd64"
    status = (base / "var/lib/dpkg/status").read_text()
    _write(layer / "var/lib/dpkg/status", status.rstrip("\n") + "\n\n" + _dpkg_entries(p, arch))

    # CUDA: /usr/local/cuda-X.Y with nvcc, headers, version file; /usr/local/cuda link.
    cuda = layer / f"usr/local/cuda-{p.cuda_short}"
    _install_script(STANDINS / "nvcc.py", cuda / "bin/nvcc")
    for header in sorted((STUBS / "cuda").glob("*.h")):
        _write(cuda / "include" / header.name, header.read_text())
    (cuda / "lib64").mkdir(parents=True, exist_ok=True)
    if p.cuda_short.startswith("10."):
        _write(cuda / "version.txt", f"CUDA Version {p.cuda}\n")
    else:
        _write(cuda / "version.json", json.dumps({"cuda": {"name": "CUDA SDK", "version": p.cuda}}, indent=3) + "\n")
    os.symlink(f"/usr/local/cuda-{p.cuda_short}", layer / "usr/local/cuda")
    write_native(layer, p)  # TensorRT/CUDA/OpenCV headers and libraries the parser links

    # TensorRT: trtexec lives under /usr/src/tensorrt/bin, not on PATH (as on a Jetson).
    _install_script(STANDINS / "trtexec.py", layer / "usr/src/tensorrt/bin/trtexec")
    for helper in ("engine.py", "trtexec_flags.py"):
        _install_script(STANDINS / helper, layer / "usr/lib/y7deploy-lab" / helper)

    # DeepStream: versioned dir, `deepstream` link, version file, headers, sample stream.
    ds = layer / f"opt/nvidia/deepstream/deepstream-{p.ds_short}"
    _write(ds / "version", f"Version: {p.deepstream}\n")
    for header in sorted((STUBS / "deepstream").glob("*.h")):
        _write(ds / "sources/includes" / header.name, header.read_text())
    _write(ds / "samples/streams/sample_1080p_h264.mp4", "y7deploy lab: placeholder stream\n")
    (ds / "bin").mkdir(parents=True, exist_ok=True)
    _install_script(STANDINS / "deepstream_app.py", ds / "bin/deepstream-app")
    os.symlink(f"deepstream-{p.ds_short}", layer / "opt/nvidia/deepstream/deepstream")
    (layer / "usr/bin").mkdir(parents=True, exist_ok=True)
    os.symlink(f"/opt/nvidia/deepstream/deepstream-{p.ds_short}/bin/deepstream-app",
               layer / "usr/bin/deepstream-app")

    _install_script(STANDINS / "nvpmodel.py", layer / "usr/sbin/nvpmodel")
    _write(layer / "etc/nvpmodel.conf", "".join(
        f"< POWER_MODEL ID={i} NAME={n} >\n" for i, n in p.nvpmodel)
        + f"< PM_CONFIG DEFAULT={p.nvpmodel[0][0]} >\n")
    (layer / "var/lib/nvpmodel").mkdir(parents=True, exist_ok=True)
    _write(layer / "var/lib/nvpmodel/status", f"pmode:{p.nvpmodel[0][0]:04d}\n")
    # jetson_clocks: L4T's script at /usr/bin; the lab's one clock setting it pins at max.
    _install_script(STANDINS / "jetson_clocks.py", layer / "usr/bin/jetson_clocks")
    _write(layer / "var/lib/y7deploy-lab/clocks", "dynamic\n")
    _write(layer / "etc/y7deploy-lab/trtexec-build-seconds", "0\n")
    # The stand-ins' call logs: writable by the service user too, as the tools are.
    for log in ("trtexec-standin.log", "deepstream-standin.log", "jetson_clocks-standin.log"):
        _write(layer / "var/log" / log, "", mode=0o666)
    _install_script(HERE / "README.md", layer / "usr/lib/y7deploy-lab/README")
    os.chmod(layer / "usr/lib/y7deploy-lab/README", 0o644)
    (layer / "etc/y7deploy-lab/faults").mkdir(parents=True, exist_ok=True)

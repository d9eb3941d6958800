"""The native side of a profile: TensorRT, CUDA and OpenCV headers and shared libraries
where JetPack puts them, so the DeepStream-Yolo parser compiles, links and loads in a
lab host exactly when it would on that Jetson (test doubles written for the lab).

The libraries are tiny ELF objects with the real sonames and the entry points the
parser links against; every CUDA call answers "no device". They are built here with the
workstation's C compiler, without libc, so they load in any host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from y7deploy.errors import NotAvailable

if TYPE_CHECKING:
    from y7deploy.lab.profiles import Profile

STUBS = Path(__file__).parent / "stubs"
OPENCV = {"4": "4.1.1", "5": "4.5.4", "6": "4.8.0"}  # JetPack major -> the OpenCV it ships


def triplet() -> str:
    """The multiarch directory name of the hosts' own architecture (the base's gcc
    targets it; on a Jetson it is aarch64-linux-gnu)."""
    try:
        out = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise NotAvailable("the lab needs gcc to build its CUDA/TensorRT stub libraries: "
                           "apt-get install gcc") from None
    return out.strip().replace("-pc-", "-").replace("-unknown-", "-")


def trt_number(version: str) -> int:
    """NV_TENSORRT_VERSION as the library reports it: 8.2.1 -> 8201, 10.3.0 -> 100300."""
    major, minor, patch = (int(x) for x in version.split(".")[:3])
    return major * (10000 if major >= 10 else 1000) + minor * 100 + patch


def cuda_sonames(cuda: str) -> dict[str, str]:
    """libcudart/libcublas sonames: CUDA 10.2 versions both by major.minor, 11 and 12 by
    major (libcudart.so.11.0, libcudart.so.12)."""
    major, minor = cuda.split(".")[:2]
    if major == "10":
        return {"cudart": f"libcudart.so.{major}.{minor}", "cublas": f"libcublas.so.{major}"}
    return {"cudart": f"libcudart.so.{major}.0" if major == "11" else f"libcudart.so.{major}",
            "cublas": f"libcublas.so.{major}"}


def write_native(layer: Path, p: "Profile") -> None:
    arch = triplet()
    trt3 = ".".join(p.tensorrt.split(".")[:3])
    trt_major, trt_minor, trt_patch = p.tensorrt.split(".")[:3]
    cuda_dir = layer / f"usr/local/cuda-{p.cuda_short}"
    libdir = layer / "usr/lib" / arch
    incdir = layer / "usr/include" / arch

    for header in sorted((STUBS / "tensorrt").glob("*.h")):
        _copy(header, incdir / header.name)
    (incdir / "NvInferVersion.h").write_text(
        f"/* y7deploy lab: TensorRT {p.tensorrt} of this profile. */\n"
        "#ifndef Y7LAB_NV_INFER_VERSION_H\n#define Y7LAB_NV_INFER_VERSION_H\n"
        f"#define NV_TENSORRT_MAJOR {trt_major}\n#define NV_TENSORRT_MINOR {trt_minor}\n"
        f"#define NV_TENSORRT_PATCH {trt_patch}\n#define NV_TENSORRT_BUILD {p.tensorrt.split('.')[3]}\n"
        "#endif\n")
    number = f"-DY7LAB_TRT_VERSION={trt_number(p.tensorrt)}"
    trt_libs = ["nvinfer", "nvinfer_plugin", "nvonnxparser"] + (["nvparsers"] if int(trt_major) < 10 else [])
    for name in trt_libs:
        _library(STUBS / "libs" / f"{name}.c", libdir, f"lib{name}.so", trt_major, trt3, [number])

    sonames = cuda_sonames(p.cuda)
    for name in ("cudart", "cublas"):
        soname = sonames[name]
        _library(STUBS / "libs" / f"{name}.c", cuda_dir / "lib64", f"lib{name}.so",
                 soname.split(".so.", 1)[1], p.cuda, [f"-I{STUBS / 'cuda'}"])
    conf = layer / f"etc/ld.so.conf.d/cuda-{p.cuda_short.replace('.', '-')}.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(f"/usr/local/cuda-{p.cuda_short}/lib64\n")

    ds_lib = layer / f"opt/nvidia/deepstream/deepstream-{p.ds_short}/lib"
    for proto in ("kafka", "amqp", "redis", "azure", "azure_edge") + (("mqtt",) if p.ds_short >= "6.1" else ()):
        _library(STUBS / "libs/msgapi.c", ds_lib, f"libnvds_{proto}_proto.so", "", "", [])

    opencv = OPENCV.get(p.jetpack.split(".")[0], "4.5.4")
    for header in sorted((STUBS / "opencv/opencv2").glob("*.hpp")):
        _copy(header, layer / "usr/include/opencv4/opencv2" / header.name)
    for name in ("opencv_core", "opencv_imgproc"):
        _library(STUBS / "libs/opencv.cpp", libdir, f"lib{name}.so", ".".join(opencv.split(".")[:2]),
                 opencv, [f"-I{STUBS / 'opencv'}"])
    pc = libdir / "pkgconfig/opencv4.pc"
    pc.parent.mkdir(parents=True, exist_ok=True)
    pc.write_text(f"prefix=/usr\nincludedir_new=${{prefix}}/include/opencv4\nlibdir=${{prefix}}/lib/{arch}\n\n"
                  f"Name: OpenCV\nDescription: Open Source Computer Vision Library\nVersion: {opencv}\n"
                  "Libs: -L${libdir} -lopencv_imgproc -lopencv_core\nCflags: -I${includedir_new}\n")


def _copy(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    os.chmod(dest, 0o644)


def _library(source: Path, libdir: Path, linkname: str, so_version: str, full_version: str,
             flags: list[str]) -> None:
    """lib.so.FULL with soname lib.so.SO_VERSION, and the two links a -dev package adds."""
    libdir.mkdir(parents=True, exist_ok=True)
    soname = f"{linkname}.{so_version}" if so_version else linkname
    real = f"{linkname}.{full_version}" if full_version else linkname
    compiler = ["g++", "-x", "c++", "-fno-exceptions", "-fno-rtti"] if source.suffix == ".cpp" else ["gcc"]
    proc = subprocess.run([*compiler, "-shared", "-fPIC", "-nostdlib", "-O1", *flags,
                           f"-Wl,-soname,{soname}", "-o", str(libdir / real), str(source)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"building the lab's {real}: {proc.stderr.strip()}")
    for link in {soname, linkname} - {real}:
        (libdir / link).unlink(missing_ok=True)
        os.symlink(real if link == soname else soname, libdir / link)

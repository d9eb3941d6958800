#!/usr/bin/python3
"""nvcc STAND-IN of the y7deploy lab (a test double, not NVIDIA's CUDA compiler).

`nvcc --version` answers as the CUDA of this simulated Jetson; `nvcc -c x.cu ...`
compiles the file as C++ with the container's g++ (the lab's .cu files hold plain
C++), passing -I/-D/-o/-std/-O and --compiler-options/-Xcompiler through.
"""

import json
import os
import subprocess
import sys

BUILT = {"10.2": "Sun_Feb_28_22:34:44_PST_2021", "11.4": "Sun_Oct_23_22:16:07_PDT_2022",
         "12.6": "Wed_Aug_14_10:14:07_PDT_2024"}


def main(argv):
    with open("/etc/y7deploy-lab/profile.json") as f:
        prof = json.load(f)
    short, full = prof["cuda_short"], prof["cuda"]
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0
    if "--version" in argv or "-V" in argv:
        year = BUILT.get(short, "Mon_Jan_1_00:00:00_PST_2024")[-4:]
        print(f"nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-{year} NVIDIA Corporation\n"
              f"Built on {BUILT.get(short, 'Mon_Jan_1_00:00:00_PST_2024')}\n"
              f"Cuda compilation tools, release {short}, V{full}\n"
              f"Build cuda_{short}.r{short}/compiler.0_0")
        return 0
    cmd = ["g++", "-x", "c++", f"-I/usr/local/cuda-{short}/include"]
    it = iter(argv)
    for a in it:
        if a in ("--compiler-options", "-Xcompiler"):
            cmd += [o for o in next(it, "").replace("'", "").split(",") if o]
        elif a.startswith("--compiler-options="):
            cmd += [o for o in a.split("=", 1)[1].split(",") if o]
        elif a in ("-gencode", "-arch", "--gpu-architecture", "-ccbin"):
            next(it, None)  # GPU targets mean nothing to g++
        elif a.startswith(("-gencode=", "-arch=", "--gpu-architecture=", "--expt-", "-lineinfo")):
            continue
        else:
            cmd.append(a)
    if len(cmd) == 4:
        print("nvcc fatal   : No input files specified; use option --help for more information",
              file=sys.stderr)
        return 1
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

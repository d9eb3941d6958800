#!/usr/bin/python3
"""nvcc STAND-IN of the y7deploy lab (a test double, not NVIDIA's CUDA compiler).

`nvcc --version` answers as the CUDA of this simulated Jetson. `nvcc -c x.cu ...` turns
CUDA's language extensions into C++ (kernels become host functions, `k<<<g, b, s, st>>>(...)`
a call after pushing the launch configuration, see include/y7lab_cuda_device.h) and
compiles the result with the host's g++, passing -I/-D/-o/-std/-O and
--compiler-options/-Xcompiler through; errors name the .cu file and its lines.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

BUILT = {"10.2": "Sun_Feb_28_22:34:44_PST_2021", "11.4": "Sun_Oct_23_22:16:07_PDT_2022",
         "12.6": "Wed_Aug_14_10:14:07_PDT_2024"}
HERE_CUDA = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # /usr/local/cuda-X.Y
# kernel<<<config>>>( -> (y7lab_launch(config), kernel)(   (the kernel may be a template)
LAUNCH = re.compile(r"([A-Za-z_][\w:]*(?:\s*<[^<>;()]*>)?)\s*<<<(.*?)>>>\s*\(", re.S)


def translate(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    body = LAUNCH.sub(lambda m: f"(y7lab_launch({m.group(2)}), {m.group(1)})(", text)
    return f'#line 1 "{path}"\n{body}'


def main(argv):
    with open("/etc/y7deploy-lab/profile.json") as f:
        prof = json.load(f)
    short, full = prof["cuda_short"], prof["cuda"]
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0
    if "--version" in argv or "-V" in argv:
        built = BUILT.get(short, "Mon_Jan_1_00:00:00_PST_2024")
        print(f"nvcc: NVIDIA (R) Cuda compiler driver\nCopyright (c) 2005-{built[-4:]} NVIDIA Corporation\n"
              f"Built on {built}\nCuda compilation tools, release {short}, V{full}\n"
              f"Build cuda_{short}.r{short}/compiler.0_0")
        return 0
    include = os.path.join(HERE_CUDA, "include")
    cmd = ["g++", f"-I{include}"]
    sources, tmp = [], tempfile.mkdtemp(prefix="nvcc-")
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
        elif a.endswith(".cu"):
            if not os.path.isfile(a):
                print(f"nvcc fatal   : Cannot open input file '{a}'", file=sys.stderr)
                return 1
            out = os.path.join(tmp, f"{len(sources)}_{os.path.basename(a)}.cpp")
            with open(out, "w") as f:
                f.write(translate(a))
            sources.append(a)
            cmd += ["-iquote", os.path.dirname(os.path.abspath(a)), "-include", "y7lab_cuda_device.h",
                    "-x", "c++", out, "-x", "none"]
        else:
            cmd.append(a)
    if not sources and not any(x.endswith((".cpp", ".cc", ".c", ".o")) for x in cmd[2:]):
        print("nvcc fatal   : No input files specified; use option --help for more information",
              file=sys.stderr)
        return 1
    try:
        return subprocess.call(cmd)
    finally:
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/python3
"""jetson_clocks STAND-IN of the y7deploy lab: a test double, not NVIDIA's script.

It mimics L4T's /usr/bin/jetson_clocks (NVIDIA's bash script, the 2015-2020 and
2015-2023 copies) only as far as what was read there:
- run without options it pins the clocks at the maximum of the current power mode;
  here that is one lab setting, /var/lib/y7deploy-lab/clocks ("dynamic" or "max"),
  since a container has no clock nodes;
- options are read first: `--show` prints "SOC family:...  Machine:..." as it reads it,
  `--store [FILE]` and `--restore [FILE]` take the next word as the file (default
  $HOME/l4t_dfs.conf, the one the help names), `--fan`, `-h`/`--help` (help on stderr,
  exit 0); an unknown option prints "Unknown option: X" and the help, and exits 0, as
  the script's usage() does;
- then it is root only: "Error: Run this script(ARGV0) as a root user" on stdout, exit 1;
- `--show` goes on with the online CPUs and nvpmodel's "NV Power Mode" line (the lab has
  no CPU, GPU or EMC frequency nodes to print); `--store` asks before overwriting a file
  and writes `path:value` lines; `--restore` writes them back.
Every call is one JSON line (argv, uid, time, pid, result) in
/var/log/jetson_clocks-standin.log.
"""

import os
import subprocess
import sys

sys.path.insert(0, "/usr/lib/y7deploy-lab")
import engine  # noqa: E402

LOG = "/var/log/jetson_clocks-standin.log"
CLOCKS = "/var/lib/y7deploy-lab/clocks"  # the lab's stand-in for the clock nodes
DEVICE_TREE = "/sys/firmware/devicetree/base"  # where the lab puts /proc/device-tree's files
SOC_FAMILIES = ("tegra186", "tegra210", "tegra194", "tegra234")
USAGE = """Maximize jetson performance by setting static max frequency to CPU, GPU and EMC clocks.
Usage:
{name} [options]
  options,
  --help, -h         show this help message
  --show             display current settings
  --fan              set PWM fan speed to maximal
  --store [file]     store current settings to a file (default: ${{HOME}}/l4t_dfs.conf)
  --restore [file]   restore saved settings from a file (default: ${{HOME}}/l4t_dfs.conf)
  run {name} without any option to set static max frequency to CPU, GPU and EMC clocks.
"""


def device_tree(name):
    try:
        with open(os.path.join(DEVICE_TREE, name)) as f:
            return f.read().replace("\0", "")
    except OSError:
        return ""


def soc_line():
    """The script names the first SoC family found in the device tree's compatible string."""
    compatible = device_tree("compatible")
    family = next((s for s in SOC_FAMILIES if s in compatible), "")
    return f"SOC family:{family}  Machine:{device_tree('model')}"


def usage(message=""):
    if message:
        print(f"\033[0;31m{message}\033[0m", flush=True)
    sys.stderr.write(USAGE.format(name=os.path.basename(sys.argv[0])))
    return 0


def parse(argv):
    """(action, conf file, exit code when the options alone end the call: help, unknown option)."""
    action, conf = "max", os.path.join(os.environ.get("HOME", ""), "l4t_dfs.conf")
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--show":
            print(soc_line(), flush=True)
            action = "show"
        elif arg in ("--store", "--restore"):
            if i + 1 < len(argv) and argv[i + 1]:
                conf = argv[i + 1]
            action = arg[2:]
            i += 1
        elif arg in ("-h", "--help"):
            return action, conf, usage()
        elif arg != "--fan":
            return action, conf, usage(f"Unknown option: {arg}")
        i += 1
    return action, conf, None


def read_clocks():
    try:
        with open(CLOCKS) as f:
            return f.read().strip()
    except OSError:
        return "dynamic"


def write_clocks(value):
    with open(CLOCKS, "w") as f:
        f.write(value + "\n")


def show():
    with open("/sys/devices/system/cpu/online") as f:
        print(f"Online CPUs: {f.read().strip()}")
    if os.path.exists("/usr/sbin/nvpmodel") and os.path.exists("/etc/nvpmodel.conf"):
        query = subprocess.run(["/usr/sbin/nvpmodel", "-q"], capture_output=True, text=True).stdout
        print("\n".join(line for line in query.splitlines() if "NV Power Mode" in line))
    return 0


def store(conf):
    if os.path.exists(conf):
        print(f"File {conf} already exists. Can I overwrite it? Y/N:", flush=True)
        if sys.stdin.readline().strip() not in ("y", "Y"):
            print(f"Error: file {conf} already exists!")
            return 1
        os.remove(conf)
    print(f"Storing system configuration in {conf}")
    with open(conf, "a") as f:
        f.write(f"{CLOCKS}:{read_clocks()}\n")
    return 0


def restore(conf):
    if not os.path.exists(conf):
        print(f"Error: {conf} file not found !")
        return 1
    print(f"Restoring system configuration from {conf}")
    with open(conf) as f:
        entries = [line.split(":", 1) for line in f.read().split() if ":" in line]
    for path, value in entries:
        try:
            with open(path, "w") as out:
                out.write(value + "\n")
        except OSError:
            print(f"Error: Failed to restore {path}")
    return 0


def run(argv):
    """(exit code, what happened) for one call."""
    action, conf, done = parse(argv)
    if done is not None:
        return done, "help"
    if os.geteuid() != 0:
        print(f"Error: Run this script({sys.argv[0]}) as a root user", flush=True)
        return 1, "refused"
    if action == "show":
        return show(), "show"
    if action == "store":
        return store(conf), "store"
    if action == "restore":
        return restore(conf), "restore"
    write_clocks("max")
    return 0, "max"


def main(argv):
    code, result = run(argv)
    engine.log_event(LOG, {"argv": argv, "result": result, "code": code})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

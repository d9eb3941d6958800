#!/usr/bin/python3
"""nvpmodel STAND-IN of the y7deploy lab (a test double, not NVIDIA's tool).

`nvpmodel -q` prints the current power mode as the real one does; `nvpmodel -m ID`
switches among the modes of /etc/nvpmodel.conf (root only). On Orin, a mode that needs
a reboot (the profile's reboot_modes) warns and asks; YES/yes records it and reboots,
anything else changes nothing.
"""

import json
import os
import subprocess
import re
import sys

CONF = "/etc/nvpmodel.conf"
STATUS = "/var/lib/nvpmodel/status"


def modes():
    with open(CONF) as f:
        found = re.findall(r"< POWER_MODEL ID=(\d+) NAME=(\S+) >", f.read())
    return {int(i): n for i, n in found}


def current():
    with open(STATUS) as f:
        return int(f.read().strip().split(":")[1])


def main(argv):
    table = modes()
    if "-q" in argv or "--query" in argv:
        mode = current()
        print(f"NV Power Mode: {table.get(mode, 'UNKNOWN')}\n{mode}")
        return 0
    if "-m" in argv:
        i = argv.index("-m")
        try:
            mode = int(argv[i + 1])
        except (IndexError, ValueError):
            print("NVPM ERROR: Invalid mode", file=sys.stderr)
            return 1
        if os.geteuid() != 0:
            print("NVPM ERROR: Error opening /var/lib/nvpmodel/status: 13", file=sys.stderr)
            return 1
        if mode not in table:
            print(f"NVPM ERROR: Invalid mode ID: {mode}", file=sys.stderr)
            return 1
        with open("/etc/y7deploy-lab/profile.json") as f:
            reboot = mode != current() and mode in json.load(f).get("reboot_modes", [])
        if reboot:
            print(f"NVPM WARN: Reboot required for changing to this power mode: {mode}", flush=True)
            print("NVPM WARN: DO YOU WANT TO REBOOT NOW? enter YES/yes to confirm:", flush=True)
            answer = sys.stdin.readline().strip()
            if answer not in ("YES", "yes"):
                return 0
        with open(STATUS, "w") as f:
            f.write(f"pmode:{mode:04d}\n")
        if reboot:
            subprocess.call(["systemctl", "reboot"])
        return 0
    print(__doc__)
    return 0 if ("-h" in argv or "--help" in argv) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The simulated Jetson fleet (test double): systemd-nspawn hosts with real systemd and
OpenSSH, JetPack profiles and stand-ins for the NVIDIA programs. Only the CLI and the
tests import this package; the product never knows it is talking to the lab."""

from y7deploy.lab.faults import KINDS as FAULTS
from y7deploy.lab.lab import Host, Lab
from y7deploy.lab.profiles import PROFILES, Profile

__all__ = ["FAULTS", "Host", "Lab", "PROFILES", "Profile"]

"""The fault suite's shared set-up: its own releases, built once per session, and the lab
provisioned once per session (tests/deploy's `deploy_lab`: the session `lab`, or
Y7DEPLOY_DEPLOY_LAB=NAME for a lab brought up by hand); `fault_kit` holds the ways these
tests watch and judge a device. tests/ is not a package, so both kit folders are put on the
path here.
"""

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "deploy"))

from deploy_lab_kit import deploy_lab, export  # noqa: E402,F401 - the provisioned lab, shared with tests/deploy
from fault_kit import FaultFleet  # noqa: E402

# name -> (seed, width multiple). Wide ones are over the upload's one-round-trip size (512 KiB):
# they go through the resumable path, as every real YOLOv7 model does.
RELEASES = {
    "fault-1.0.0": (11, 0.125),
    "fault-2.0.0": (12, 0.125),
    "fault-3.0.0": (13, 0.25),
    "fault-4.0.0": (14, 0.25),
    "fault-5.0.0": (15, 0.125),
    "fault-6.0.0": (16, 0.125),
    "fault-7.0.0": (17, 0.125),
    "fault-8.0.0": (18, 0.125),
    "fault-9.0.0": (19, 0.125),
}


@pytest.fixture(scope="session")
def fault_releases(tmp_path_factory) -> Path:
    import torch

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("fault-releases")
    for rid, (seed, width) in RELEASES.items():
        name, _, version = rid.partition("-")
        export(out, name, version, seed, width)
    return out


@pytest.fixture(scope="session")
def fault_fleet(deploy_lab, fault_releases, tmp_path_factory) -> FaultFleet:
    """The provisioned lab as a fleet for fault tests: tiny gate windows, nothing pruned."""
    return FaultFleet(deploy_lab, fault_releases, tmp_path_factory.mktemp("faults"))

"""A config-only change on the lab (the same release, other vars) is a switch like a new
release: the new configs go into a config slot beside the running directory, `current` is
switched by rename(2), the gate decides, and a failed gate returns to the old directory,
byte-identical and running. A bundle re-exported under a kept id and a y7_sources that is
not a list are refused before anything changes.

One host, starting from tiny-1.0.0 with the kit's vars; it ends there again (the failure
tests that follow start from the fleet on tiny-1.0.0). About 4 gates of 3 s and 7 pushes
to one host.
"""

from __future__ import annotations

import json

import pytest
from deploy_lab_kit import deploy_lab, export, lab_fleet, releases  # noqa: F401 - fixtures

pytestmark = [pytest.mark.lab, pytest.mark.slow]

V1 = "tiny-1.0.0"
RELEASES = "/opt/y7deploy/releases"


@pytest.fixture(scope="module")
def host(lab_fleet):
    name = lab_fleet.host_of("xavier-nx-jp513")
    code, _, proc = lab_fleet.push(V1, "--limit", name)
    assert code == 0 and lab_fleet.current(name) == V1, proc.stdout[-2000:] + proc.stderr[-2000:]
    yield name
    code, report, proc = lab_fleet.push(V1, "--limit", name)  # back to releases/tiny-1.0.0 itself
    assert code == 0 and lab_fleet.current(name) == V1, proc.stdout[-2000:] + proc.stderr[-2000:]


def files_of(fleet, host: str, directory: str) -> str:
    """Every file of a release directory with its sha256, mode and owner."""
    return fleet.root(host, f"cd {RELEASES}/{directory} && for f in *; do "
                            "printf '%s %s ' \"$f\" \"$(stat -c '%a %U' \"$f\")\"; sha256sum < \"$f\"; done")


def last_start_dir(fleet, host: str) -> str:
    """The directory the app's last start ran in (the stand-in logs its working directory)."""
    return [e for e in fleet.app_events(host) if e["event"] == "start"][-1]["cwd"]


def test_a_config_only_push_goes_to_a_config_slot_and_commits_leaving_the_release_directory_untouched(lab_fleet, host):
    v1_files = files_of(lab_fleet, host, V1)
    builds = len(lab_fleet.trtexec_calls(host))
    code, report, proc = lab_fleet.push(V1, "--limit", host, "-e", "y7_conf_threshold=0.4")
    assert code == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    r = report["hosts"][host]
    slot = r["to_release"]
    assert r["result"] == "committed" and r["from_release"] == V1 and slot.startswith(V1 + "@cfg-")
    assert r["bytes_sent"] == 0  # the bundle's files are hard links to the kept release's
    assert lab_fleet.current(host) == slot
    state = lab_fleet.state(host)
    assert (state["state"], state["current"], state["previous"]) == ("committed", slot, V1)
    assert "pre-cluster-threshold=0.4" in lab_fleet.root(host, f"cat {RELEASES}/{slot}/config_infer_primary.txt")
    assert files_of(lab_fleet, host, V1) == v1_files
    inodes = lab_fleet.root(host, f"stat -c %i {RELEASES}/{V1}/model.onnx {RELEASES}/{slot}/model.onnx").split()
    assert len(inodes) == 2 and inodes[0] == inodes[1]
    assert len(lab_fleet.trtexec_calls(host)) == builds
    assert last_start_dir(lab_fleet, host) == f"{RELEASES}/{slot}"

    code, again, _ = lab_fleet.push(V1, "--limit", host, "-e", "y7_conf_threshold=0.4")
    assert code == 0 and again["hosts"][host]["result"] == "unchanged"
    assert again["hosts"][host]["to_release"] == slot


def test_a_config_only_push_whose_gate_fails_goes_back_to_the_old_configs_byte_identical_and_running(lab_fleet, host):
    running = lab_fleet.current(host)  # the slot the test above committed
    assert running.startswith(V1 + "@cfg-")
    before = {d: files_of(lab_fleet, host, d) for d in (V1, running)}
    dark_camera = json.dumps({"y7_sources": ["file:///no/such.mp4"], "y7_conf_threshold": 0.4})
    code, report, proc = lab_fleet.push(V1, "--limit", host, "-e", dark_camera)
    assert code == 4, proc.stdout[-3000:] + proc.stderr[-2000:]
    r = report["hosts"][host]
    assert r["result"] == "rolled_back" and "health gate failed" in r["reason"]
    assert r["to_release"] not in (V1, running) and r["to_release"].startswith(V1 + "@cfg-")
    assert lab_fleet.current(host) == running
    assert lab_fleet.state(host)["state"] == "rolled_back"
    assert {d: files_of(lab_fleet, host, d) for d in before} == before
    assert lab_fleet.root(host, "systemctl is-active y7deploy-app").strip() == "active"
    assert last_start_dir(lab_fleet, host) == f"{RELEASES}/{running}"


def test_a_bundle_re_exported_under_a_kept_id_is_refused_and_nothing_changes(lab_fleet, host, tmp_path):
    again = export(tmp_path, "tiny", "1.0.0", seed=9)  # the same id, other weights: another manifest
    before = lab_fleet.snapshot(host)
    code, report, proc = lab_fleet.push(str(again), "--limit", host)
    assert code == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    [refusal] = report["refusals"]
    assert refusal["host"] == host and f"keeps release {V1}" in refusal["reason"]
    assert "re-exported" in refusal["reason"]
    assert lab_fleet.snapshot(host) == before


def test_y7_sources_that_is_not_a_list_is_one_line_naming_its_type_exit_2(lab_fleet, host):
    before = lab_fleet.snapshot(host)
    proc = lab_fleet.y7("push", V1, "-i", str(lab_fleet.inventory), "--releases", str(lab_fleet.releases),
                        "--limit", host, "-e", "y7_sources=notalist")
    assert proc.returncode == 2
    said = [line for line in (proc.stdout + proc.stderr).splitlines() if "y7_sources" in line]
    assert said and all("not a list (it is a str)" in line and host in line for line in said)
    assert "Traceback" not in proc.stderr and "not set" not in proc.stdout + proc.stderr
    assert lab_fleet.snapshot(host) == before

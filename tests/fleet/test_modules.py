"""Every module against the lab over real SSH: it acts, the host shows it, a re-run changes nothing,
and --check changes nothing on any host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import fleet_kit as kit


pytestmark = pytest.mark.lab


@pytest.fixture
def fleet(lab, tmp_path):
    with kit.session(lab, tmp_path, units=True) as f:
        yield f


def build_deb(tmp_path: Path) -> Path:
    """A tiny real .deb, built with dpkg-deb, for the apt module to install offline."""
    root = tmp_path / "pkg"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "usr/share/y7t-hello").mkdir(parents=True)
    (root / "usr/share/y7t-hello/README").write_text("hello\n")
    (root / "DEBIAN/control").write_text(
        "Package: y7t-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: y7deploy tests <t@example.invalid>\n"
        "Description: test package\n")
    out = tmp_path / "y7t-hello_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(out)], check=True,
                   capture_output=True)
    return out


def test_every_module_acts_then_changes_nothing(fleet, tmp_path):
    deb = build_deb(tmp_path)
    fetched = tmp_path / "fetched"
    extra = ["-e", f"deb_file={deb}", "-e", f"fetch_dir={fetched}"]
    first = fleet.play("modules.yml", *extra)
    assert first.exit_code == 0, first.output + first.stderr
    for host, counts in first.recap().items():
        assert counts["failed"] == 0 and counts["unreachable"] == 0 and counts["changed"] >= 10, (host, counts)

    profiles = {h.name: h.profile for h in fleet.lab.hosts}
    from y7deploy.lab.profiles import PROFILES

    for host in fleet.hosts:
        look = lambda cmd: fleet.root(host, cmd).strip()  # noqa: E731
        assert look("cat /tmp/y7t/hello.txt") == f"hello {host}"
        assert look("stat -c '%a %U' /tmp/y7t/hello.txt") == "640 jetson"
        assert look("stat -c '%a' /tmp/y7t/sub") == "750"
        assert look("cat /tmp/y7t/sub/data.txt") == "plain data file"
        assert look("readlink /tmp/y7t/current.conf") == "/tmp/y7t/app.conf"
        p = PROFILES[profiles[host]]
        assert f"model = {p.model}" in look("cat /tmp/y7t/app.conf")
        assert f"l4t = {p.l4t}" in look("cat /tmp/y7t/app.conf")
        assert look("cat /tmp/y7t/answer") == "42"
        assert look("systemctl is-active y7t-demo.service") == "active"
        assert look("systemctl is-enabled y7t-demo.service") == "enabled"
        assert look("dpkg-query -W -f='${Status}' y7t-hello") == "install ok installed"
        assert (fetched / host / "tmp/y7t/hello.txt").read_text() == f"hello {host}\n"

    again = fleet.play("modules.yml", *extra)
    assert again.exit_code == 0, again.output
    recap = again.recap()
    assert set(recap) == set(fleet.hosts)
    assert all(c["changed"] == 0 and c["failed"] == 0 for c in recap.values()), recap

    removed = fleet.play("remove.yml")
    assert removed.exit_code == 0, removed.output
    assert all(c["changed"] == 2 for c in removed.recap().values()), removed.output
    for host in fleet.hosts:
        assert fleet.root(host, "dpkg-query -W -f='${Status}' y7t-hello 2>/dev/null").strip() != "install ok installed"
        assert fleet.root(host, "systemctl is-active y7t-demo.service").strip() == "inactive"


def test_check_mode_changes_nothing_and_diff_shows_what_would(fleet):
    before = {h: fleet.root(h, "stat -c %a /etc/hostname").strip() for h in fleet.hosts}
    run = fleet.play("check.yml", "--check", "--diff")
    assert run.exit_code == 0, run.output + run.stderr
    for host, counts in run.recap().items():
        assert counts["changed"] == 6 and counts["skipped"] == 1 and counts["failed"] == 0, (host, counts)
    assert "+checked host jetson01" in run.output  # the template's diff
    assert "+line two" in run.output
    for host in fleet.hosts:
        assert not fleet.exists(host, "/tmp/y7t"), host
        assert fleet.root(host, "stat -c %a /etc/hostname").strip() == before[host]
        assert fleet.root(host, "systemctl is-active ssh.service").strip() == "active"


def test_failing_module_reports_and_wait_for_times_out(fleet, tmp_path):
    book = tmp_path / "fail.yml"
    book.write_text(
        "- hosts: jetson01\n  gather_facts: false\n  tasks:\n"
        "    - wait_for: {path: /tmp/y7t/never, timeout: 1}\n")
    run = fleet.play(str(book))
    assert run.exit_code == 3
    assert "Timeout when waiting for /tmp/y7t/never to exist" in run.output
    assert run.recap()["jetson01"]["failed"] == 1

"""Host patterns (--limit, a play's hosts:) against ansible-core's own selection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.errors import UserError
from y7deploy.fleet.inventory import load_inventory
from y7deploy.fleet.patterns import select_hosts, split_pattern

INV = Path(__file__).parent / "inventories" / "yaml_diamond"
ORACLE = Path(sys.executable).parent / "ansible"


@pytest.fixture(scope="module")
def inv():
    return load_inventory(INV)


def test_split():
    assert split_pattern("a,b:!c") == ["a", "b:!c"]  # commas win, as in Ansible
    assert split_pattern("a:!b:&c") == ["a", "!b", "&c"]
    assert split_pattern("web[0:2]:db") == ["web[0:2]", "db"]
    assert split_pattern("fe80::1") == ["fe80::1"]
    assert split_pattern(" a , b ") == ["a", "b"]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("shared", ["shared"]),
        ("site_b", ["shared", "jetsona.site-b", "jetsonb.site-b", "jetsonc.site-b"]),
        ("canary", ["jetson02.site-a", "jetsonb.site-b"]),
        ("ops", ["lonely", "jetson02.site-a", "jetsonb.site-b"]),
        ("jetson0*", ["jetson01.site-a", "jetson02.site-a", "jetson03.site-a"]),
        ("site_a:!canary", ["jetson01.site-a", "jetson03.site-a", "shared"]),
        ("site_a:&canary", ["jetson02.site-a"]),
        ("!site_a", ["lonely", "jetsona.site-b", "jetsonb.site-b", "jetsonc.site-b"]),
        ("~jetson[ab]\\.", ["jetsona.site-b", "jetsonb.site-b"]),
        ("lonely,shared", ["lonely", "shared"]),
        ("shared,lonely", ["shared", "lonely"]),  # the pattern's order, as Ansible
        ("canary,site_a", ["jetson02.site-a", "jetsonb.site-b", "jetson01.site-a", "jetson03.site-a", "shared"]),
        ("site_a[0]", ["jetson01.site-a"]),
        ("site_a[1:2]", ["jetson02.site-a", "jetson03.site-a"]),
        ("fleet:!site_*", []),
        ("ungrouped", []),  # lonely is in ops, so nobody is ungrouped
    ],
)
def test_select(inv, pattern, expected):
    assert select_hosts(inv, pattern) == expected


def test_all(inv):
    assert select_hosts(inv, "all") == inv.hosts == select_hosts(inv, "*")
    assert len(inv.hosts) == 8


@pytest.mark.parametrize("pattern", ["nosuchhost", "site_a:nosuch", "site_a:!nosuch", "nomatch*", "~^zzz"])
def test_unknown_is_user_error(inv, pattern):
    with pytest.raises(UserError, match="nosuch|nomatch|zzz"):
        select_hosts(inv, pattern)


def test_not_strict_matches_nothing(inv):
    assert select_hosts(inv, "nosuchhost", strict=False) == []


def test_limit_file(inv, tmp_path):
    f = tmp_path / "limit.txt"
    f.write_text("shared\n# a comment\nlonely\n")
    assert select_hosts(inv, f"@{f}") == ["shared", "lonely"]


# Patterns whose order ansible-core itself keeps from run to run. (It walks a group's
# descendants level by level in set order, so `all` here, whose children have children of
# their own, comes out in one of two orders depending on its memory layout.)
SAME_AS_ANSIBLE = ["ops:&site_*", "~jetson0[13]", "jetson*:!site_b", "site_b,site_a", "shared,lonely",
                   "canary:site_a", "ops,fleet", "site_b:site_a:&canary", "fleet", "site_b[1:2]",
                   "!canary", "jetsonc.site-b,canary,jetson0*"]


@pytest.mark.parametrize("pattern", SAME_AS_ANSIBLE)
def test_same_hosts_in_the_same_order_as_ansible(inv, tmp_path, pattern):
    if not ORACLE.exists():
        pytest.skip("ansible-core (the oracle) is not installed")
    (tmp_path / "ansible.cfg").touch()
    env = dict(os.environ, ANSIBLE_CONFIG=str(tmp_path / "ansible.cfg"), ANSIBLE_HOME=str(tmp_path / ".a"))
    out = subprocess.run(
        [str(ORACLE), "-i", str(INV), pattern, "--list-hosts"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    ).stdout
    theirs = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    assert theirs and select_hosts(inv, pattern) == theirs

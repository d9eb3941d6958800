"""Inventory: ansible-core's own `ansible-inventory` is the oracle for --list and --graph."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.errors import UserError
from y7deploy.fleet.inventory import expand_host_range, load_inventory

HERE = Path(__file__).parent / "inventories"
VENV_BIN = Path(sys.executable).parent
ORACLE = VENV_BIN / "ansible-inventory"
# Each oracle call costs ansible-core's start-up (about a second), so every case here earns its place.
TRICKY = ["yaml_diamond/hosts.yml", "ini_typed/hosts", "dir_mixed", "priorities/hosts.yml"]


def _run(cmd: list[str], cwd: Path) -> str:
    (cwd / "ansible.cfg").touch()  # an empty config: no user or system ansible.cfg leaks in
    env = dict(os.environ, ANSIBLE_CONFIG=str(cwd / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(cwd))
    env["ANSIBLE_HOME"] = str(cwd / ".ansible")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def oracle(tmp_path: Path, *args: str) -> str:
    if not ORACLE.exists():
        pytest.skip("ansible-core (the oracle) is not installed")
    return _run([str(ORACLE), *args], tmp_path)  # cwd: no group_vars of the repo's own


def ours(tmp_path: Path, *args: str) -> str:
    return _run([str(VENV_BIN / "y7deploy"), "inventory", *args], tmp_path)


@pytest.mark.parametrize("source", TRICKY)
def test_list_matches_ansible_inventory(tmp_path, source):
    path = str(HERE / source)
    expected = json.loads(oracle(tmp_path, "-i", path, "--list"))
    assert json.loads(ours(tmp_path, "-i", path, "--list")) == expected
    # and the library call gives the same without a process
    assert json.loads(json.dumps(load_inventory(path).to_list_json(), default=str)) == expected


@pytest.mark.parametrize("source", ["yaml_diamond", "ini_typed", "priorities/hosts.yml"])
def test_graph_matches_ansible_inventory(tmp_path, source):
    path = str(HERE / source)  # a directory source for the first two
    assert ours(tmp_path, "-i", path, "--graph", "--vars") == oracle(tmp_path, "-i", path, "--graph", "--vars")


def test_graph_of_one_group(tmp_path):
    path = str(HERE / "yaml_diamond")
    assert ours(tmp_path, "-i", path, "--graph", "fleet") == oracle(tmp_path, "-i", path, "--graph", "fleet")


def test_list_with_limit_matches_ansible_inventory(tmp_path):
    path = str(HERE / "yaml_diamond")
    args = ["-i", path, "--list", "--limit", "canary:lonely"]
    assert json.loads(ours(tmp_path, *args)) == json.loads(oracle(tmp_path, *args))


def test_host_list_source_matches_ansible_inventory(tmp_path):
    source = "jetson01,198.18.0.12:2222,edge[1:2],"
    assert json.loads(ours(tmp_path, "-i", source, "--list")) == json.loads(oracle(tmp_path, "-i", source, "--list"))


def test_host_matches_ansible_inventory(tmp_path):
    path = str(HERE / "yaml_diamond")
    for host in ("shared", "jetsonb.site-b"):
        expected = json.loads(oracle(tmp_path, "-i", path, "--host", host))
        assert json.loads(ours(tmp_path, "-i", path, "--host", host)) == expected


def test_precedence_by_hand():
    """The cases the oracle covers, spelled out so a failure says which rule broke."""
    inv = load_inventory(HERE / "yaml_diamond")
    hv = inv.host_vars("shared")
    assert hv["role"] == "from_host_vars"  # host_vars/ beats inline host vars
    assert hv["ansible_port"] == 2201
    assert hv["batch"] == 4 and hv["engine"] == "fp16"  # group_vars/site_a/ read in sorted order
    assert hv["site"] == "b"  # site_b sorts after site_a at the same depth
    assert hv["inventory_hostname"] == "shared"
    assert hv["group_names"] == ["fleet", "site_a", "site_b"]
    # canary and site_a are both at depth 2 (all > fleet > ...): the name decides, site_a wins
    assert inv.host_vars("jetson02.site-a")["engine"] == "fp16"
    assert inv.host_vars("jetson02.site-a")["canary"] is True
    assert inv.host_vars("jetsonb.site-b")["hostile"] == "; rm -rf / $(reboot) `id`"
    assert inv.host_vars("jetsona.site-b")["ansible_port"] == 2222
    assert inv.host_vars("lonely")["level"] == "group_vars_all"  # group_vars/all beats inventory all vars

    prio = load_inventory(HERE / "priorities" / "hosts.yml")
    assert prio.host_vars("h1")["who"] == "alpha"  # priority 10 beats zeta, beta
    assert prio.host_vars("h2")["tie"] == "zeta"  # same priority: name order, last wins
    assert prio.host_vars("h2")["deep"] == "child"  # a child beats a parent whatever its priority
    assert prio.host_vars("h3")["who"] == "parent"  # parent's priority 100 beats beta (same depth 1)


def test_ini_values_typed_like_ansible():
    inv = load_inventory(HERE / "ini_typed" / "hosts")
    hv = inv.host_vars("jetson05.site-a")
    assert (hv["batch"], hv["fp16"], hv["ratio"], hv["label"]) == (4, True, 0.5, "two words")
    orin = inv.host_vars("orin-b")
    assert orin["nums"] == [1, 2, 3] and orin["cfg"] == {"k": "v", "n": 1} and orin["empty"] == ""
    late = inv.host_vars("late-host")
    assert late["from_later_vars"] == "hello world # kept, INI vars have no comments"
    assert (late["hostile"], late["sub"], late["tick"]) == ("; rm -rf /", "$(reboot)", "`id`")
    assert inv.host_vars("10.0.0.2")["ansible_port"] == 2222
    assert inv.hosts[:2] == ["lonely1", "lonely2"]  # inventory order = order of appearance


def test_host_ranges():
    assert expand_host_range("jetson[01:03].site-a") == ["jetson01.site-a", "jetson02.site-a", "jetson03.site-a"]
    assert expand_host_range("n[1:10:4]") == ["n1", "n5", "n9"]
    assert expand_host_range("r[a:c]") == ["ra", "rb", "rc"]
    assert expand_host_range("x[1:2]-[a:b]") == ["x1-a", "x1-b", "x2-a", "x2-b"]
    assert expand_host_range("p[:2]") == ["p0", "p1", "p2"]
    for bad in ("j[01:3]", "j[1:]", "j[1]", "j[c:a]", "j[1:5:x]", "j[1:3"):
        with pytest.raises(ValueError):
            expand_host_range(bad)


@pytest.mark.parametrize(
    "name, text, where",
    [
        ("bad.yml", "all:\n  children:\n    a: [\n", "bad.yml:4"),
        ("bad.ini", "[web]\nhost1\n[web:oops]\n", "bad.ini:3"),
        ("range.ini", "[web]\nj[01:3]\n", "range.ini:2"),
        ("vars.ini", "[nothere:vars]\nx=1\n", "vars.ini:1"),
        ("kids.ini", "[p:children]\nghost\n", "kids.ini:2"),
        ("hostvar.ini", "[web]\nhost1 novalue\n", "hostvar.ini:2"),
        ("section.ini", "[web group]\n", "section.ini:1"),
        ("loop.yml", "a:\n  children:\n    b:\n      children:\n        a:\n", "loop.yml"),
        ("badhosts.yml", "web:\n  hosts: [a, b]\n", "badhosts.yml"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, name, text, where):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError) as err:
        load_inventory(tmp_path / name)
    assert where in str(err.value) and "\n" not in str(err.value)


def test_ansible_yaml_tags(tmp_path):
    (tmp_path / "hosts.yml").write_text("web:\n  hosts:\n    a:\n      raw: !unsafe '{{ not a template }}'\n")
    assert load_inventory(tmp_path / "hosts.yml").host_vars("a")["raw"] == "{{ not a template }}"
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("ok: 1\npw: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    with pytest.raises(UserError, match=r"web.yml:2.*vault"):
        load_inventory(tmp_path / "hosts.yml").host_vars("a")


def test_bad_group_vars_file_named(tmp_path):
    (tmp_path / "hosts.yml").write_text("web:\n  hosts:\n    a:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("x: [1,\n")
    inv = load_inventory(tmp_path / "hosts.yml")
    with pytest.raises(UserError, match=r"group_vars/web.yml:\d+"):
        inv.host_vars("a")


def test_cli_bad_input_exit_2(tmp_path):
    (tmp_path / "bad.ini").write_text("[web]\nj[01:3]\n")
    proc = subprocess.run(
        [str(VENV_BIN / "y7deploy"), "inventory", "-i", str(tmp_path / "bad.ini"), "--list"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "bad.ini:2" in proc.stderr and "Traceback" not in proc.stderr

"""Connections against the lab's real OpenSSH: commands, sudo, host keys, jump hosts, unreachable hosts."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import subprocess
import threading
import time

import paramiko
import pytest

import fleet_kit as kit

from y7deploy.fleet.connection import (
    BecomeFailed,
    CommandTimeout,
    Connection,
    ConnectionPool,
    Unreachable,
    quote_argv,
    run_parallel,
)
from y7deploy.fleet.hostspec import host_spec, inventory_specs, load_ssh_config, parse_ssh_args
from y7deploy.fleet.inventory import load_inventory

pytestmark = pytest.mark.lab

HOSTILE = ["; rm -rf /", "$(touch /tmp/pwned)", "`touch /tmp/pwned`", "a\nb", "it's \"quoted\"", "-n", "--help",
           "*", "$HOME", "\\", "", " spaced  out ", "|| reboot", "> /etc/passwd"]


@pytest.fixture(scope="module")
def specs(lab):
    return inventory_specs(load_inventory(lab.inventory_path))


@pytest.fixture(scope="module")
def conn(specs):
    with Connection(specs["jetson01"]) as c:
        yield c


def _lab_key(lab, host: str) -> paramiko.PKey:
    address = lab.host(host).address
    for line in lab.known_hosts.read_text().splitlines():
        names, kind, b64 = line.split()[:3]
        if address in names.split(","):
            return paramiko.PKey.from_type_string(kind, base64.b64decode(b64))
    raise AssertionError(f"{host} not in the lab's known_hosts")


def test_run_output_and_exit_code(conn):
    r = conn.run("echo out; echo err >&2; exit 3")
    assert (r.exit_code, r.stdout, r.stderr, r.ok) == (3, "out\n", "err\n", False)
    assert conn.run("true").ok


def test_one_connection_for_many_commands(conn):
    ports = {conn.run("echo ${SSH_CONNECTION%% *} ${SSH_CONNECTION#* }").stdout.split()[1] for _ in range(20)}
    assert len(ports) == 1  # the same client port: no reconnect per command


def test_stdin_binary_roundtrip(conn):
    data = bytes(range(256)) * 4096 + b"\x00\n\r"
    assert conn.run("sha256sum", stdin=data).stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_big_stdin_echoed_back(conn):
    data = bytes(range(256)) * (40 * 4096)  # 40 MiB: more than both flow-control windows
    r = conn.start("cat")
    r.send_in_background(data)
    out, _, code = r.finish()
    assert code == 0 and out == data
    assert conn.run("wc -c", stdin=data).stdout.strip() == str(len(data))


def test_big_output_on_both_streams(conn):
    r = conn.run("head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2")
    assert (len(r.stdout), len(r.stderr)) == (5_000_000, 3_000_000)


@pytest.mark.parametrize("sudo", [False, True])
def test_hostile_values_arrive_literally(lab, conn, sudo):
    r = conn.run(quote_argv(["printf", "%s\\0", *HOSTILE]), sudo=sudo)
    assert r.stdout.split("\0")[:-1] == HOSTILE
    r = conn.run('printf "%s" "$V"', env={"V": HOSTILE[0] + HOSTILE[1] + HOSTILE[3]}, sudo=sudo)
    assert r.stdout == HOSTILE[0] + HOSTILE[1] + HOSTILE[3]
    assert lab.root("jetson01", "ls /tmp/pwned").returncode != 0  # nothing else ran


def test_sudo_without_password(conn):
    r = conn.run("id -un; cat", sudo=True, stdin=b"first line\nsecond\n")
    assert r.stdout == "root\nfirst line\nsecond\n"
    assert conn.run("id -un").stdout == "jetson\n"


def test_command_timeout(conn):
    with pytest.raises(CommandTimeout):  # raised while `sleep 30` still runs: it was stopped, not waited for
        conn.run("sleep 30; echo finished", timeout=0.5)
    assert conn.run("echo still fine").stdout == "still fine\n"


@pytest.fixture(scope="module")
def deploy_user(lab, specs):
    """A second login on jetson02 whose sudo asks for a password (the lab's default user needs none)."""
    password = "p@ss word; $(reboot) 'x'"
    kit.add_sudo_user(lab, "jetson02", "deploy", password)
    return dataclasses.replace(specs["jetson02"], user="deploy", become_password=password), password


def test_sudo_with_password(deploy_user):
    spec, password = deploy_user
    with Connection(spec) as c:
        r = c.run("id -un; cat", sudo=True, stdin=b"line one\nline two\n")
        assert r.stdout == "root\nline one\nline two\n"  # the password never reached the command's stdin
        assert password not in r.stderr and "y7deploy-sudo" not in r.stderr
        assert c.run("ps -eo args", sudo=True).stdout.count(password) == 0  # never in argv
        assert password not in c.wrap("true", sudo=True)
        # uploads stream after sudo has accepted the password: small and large, content intact
        big = bytes(range(256)) * 8192
        assert c.put_bytes(b"secret-free\n", "/etc/y7-become-small", sudo=True, mode=0o600)
        assert c.put_bytes(big, "/etc/y7-become-big", sudo=True)
        assert not c.put_bytes(big, "/etc/y7-become-big", sudo=True)
        assert c.get_bytes("/etc/y7-become-big", sudo=True) == big
        assert c.run("stat -c %U:%a /etc/y7-become-small; rm -f /etc/y7-become-*", sudo=True).stdout == "root:600\n"
    assert password not in repr(spec) and password not in repr(Connection(spec))


def test_sudo_wrong_or_missing_password(deploy_user):
    spec, _ = deploy_user
    with pytest.raises(BecomeFailed) as err, Connection(dataclasses.replace(spec, become_password="wrong")) as c:
        c.run("id", sudo=True)
    assert "wrong" not in str(err.value)
    with Connection(dataclasses.replace(spec, become_password=None)) as c:
        r = c.run("id", sudo=True)
    assert r.exit_code != 0 and "password is required" in r.stderr


# -- host keys --------------------------------------------------------------------------------


def _with_known_hosts(spec, path, strict="yes"):
    return dataclasses.replace(spec, known_hosts_files=(str(path),), record_known_hosts_to=str(path),
                               strict_host_key_checking=strict)


def test_unknown_host_key_refused_with_fingerprint(lab, specs, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(Unreachable) as err:
        Connection(_with_known_hosts(specs["jetson01"], empty)).open()
    message = str(err.value)
    assert _lab_key(lab, "jetson01").fingerprint in message  # SHA256:..., as ssh-keygen -lf prints
    assert "--accept-new-host-keys" in message and "ssh-keyscan" in message and "jetson01" in message
    assert empty.read_text() == ""  # nothing recorded


def test_accept_new_records_key(lab, specs, tmp_path):
    kh = tmp_path / "known_hosts"
    with Connection(_with_known_hosts(specs["jetson01"], kh), accept_new_host_keys=True) as c:
        assert c.run("true").ok
    address = lab.host("jetson01").address
    assert kh.read_text().startswith(f"{address} ssh-ed25519 ")
    # ssh itself accepts what we recorded, and strict mode now connects
    out = subprocess.run(["ssh-keygen", "-F", address, "-f", str(kh)], capture_output=True, text=True).stdout
    assert "ssh-ed25519" in out
    with Connection(_with_known_hosts(specs["jetson01"], kh)) as c:
        assert c.run("true").ok


def test_strict_host_key_checking_no_means_accept_new(lab, tmp_path):
    kh = tmp_path / "kh"
    inv = tmp_path / "hosts.yml"
    h = lab.host("jetson01")
    inv.write_text(
        f"all:\n  hosts:\n    j1:\n      ansible_host: {h.address}\n      ansible_user: jetson\n"
        f"      ansible_ssh_private_key_file: {lab.key_file}\n"
        f"      ansible_ssh_common_args: -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=no\n"
    )
    spec = host_spec("j1", load_inventory(inv).host_vars("j1"))
    assert spec.strict_host_key_checking == "accept-new" and spec.known_hosts_files[0] == str(kh)
    with Connection(spec) as c:
        assert c.run("true").ok
    assert h.address in kh.read_text()


def test_changed_host_key_refused_in_every_mode(lab, specs, tmp_path):
    kh = tmp_path / "known_hosts"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    other = (tmp_path / "other.pub").read_text().split()
    kh.write_text(f"{lab.host('jetson01').address} {other[0]} {other[1]}\n")
    for accept_new in (False, True):
        with pytest.raises(Unreachable, match="HOST KEY CHANGED") as err:
            Connection(_with_known_hosts(specs["jetson01"], kh), accept_new_host_keys=accept_new).open()
        assert _lab_key(lab, "jetson01").fingerprint in str(err.value)
    assert len(kh.read_text().splitlines()) == 1  # nothing added


def test_hashed_known_hosts(lab, specs, tmp_path):
    kh = tmp_path / "known_hosts"
    kh.write_text(lab.known_hosts.read_text())
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert kh.read_text().startswith("|1|")
    with Connection(_with_known_hosts(specs["jetson01"], kh)) as c:
        assert c.run("true").ok


def test_host_key_alias(lab, specs, tmp_path):
    kh = tmp_path / "known_hosts"
    key = _lab_key(lab, "jetson01")
    kh.write_text(f"front-camera {key.get_name()} {key.get_base64()}\n")  # filed under the alias only
    spec = dataclasses.replace(_with_known_hosts(specs["jetson01"], kh), host_key_alias="front-camera")
    with Connection(spec) as c:
        assert c.run("true").ok
    with pytest.raises(Unreachable, match="unknown host key"):
        Connection(_with_known_hosts(specs["jetson01"], kh)).open()


# -- ssh config, jump hosts ----------------------------------------------------------------------


def test_ssh_config_alias(lab, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(
        f"Host edge-box\n  HostName {lab.host('jetson03').address}\n  User jetson\n"
        f"  IdentityFile {lab.key_file}\n  UserKnownHostsFile {lab.known_hosts}\n  Port 22\n"
    )
    spec = host_spec("cam", {"ansible_host": "edge-box"}, load_ssh_config(cfg))
    assert (spec.host, spec.user) == (lab.host("jetson03").address, "jetson")
    with Connection(spec) as c:
        assert c.run("hostname").stdout == "jetson03\n"
    # inventory vars beat the config
    assert host_spec("cam", {"ansible_host": "edge-box", "ansible_user": "root"}, load_ssh_config(cfg)).user == "root"


def test_jump_host(lab, specs, tmp_path):
    bastion = lab.host("jetson01").address
    args = specs["jetson02"]
    hv = {
        "ansible_host": lab.host("jetson02").address, "ansible_user": "jetson",
        "ansible_ssh_private_key_file": str(lab.key_file),
        "ansible_ssh_common_args": f"-o UserKnownHostsFile={lab.known_hosts} -o ProxyJump=jetson@{bastion}:22",
    }
    spec = host_spec("jetson02", hv, load_ssh_config(tmp_path / "none"))
    assert [j.host for j in spec.jump] == [bastion] and args.host == spec.host
    with Connection(spec) as c:
        r = c.run("hostname; echo $SSH_CONNECTION")
        name, conn_line = r.stdout.splitlines()
        assert name == "jetson02"
        assert conn_line.split()[0] == bastion  # the session came from the bastion, not from us


def test_jump_host_via_ssh_config(lab, tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(
        f"Host bastion\n  HostName {lab.host('jetson01').address}\n  User jetson\n  IdentityFile {lab.key_file}\n"
        f"Host inner\n  HostName {lab.host('jetson03').address}\n  User jetson\n  ProxyJump bastion\n"
        f"  IdentityFile {lab.key_file}\n  UserKnownHostsFile {lab.known_hosts}\n"
    )
    spec = host_spec("inner", {"ansible_host": "inner"}, load_ssh_config(cfg))
    with Connection(spec) as c:
        assert c.run("echo $SSH_CONNECTION").stdout.split()[0] == lab.host("jetson01").address


def test_proxy_command(lab, tmp_path):
    bastion = lab.host("jetson01").address
    hv = {
        "ansible_host": lab.host("jetson03").address, "ansible_user": "jetson",
        "ansible_ssh_private_key_file": str(lab.key_file),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={lab.known_hosts} -o 'ProxyCommand=ssh -W %h:%p -i {lab.key_file} "
            f"-o UserKnownHostsFile={lab.known_hosts} -o BatchMode=yes jetson@{bastion}'"
        ),
    }
    spec = host_spec("jetson03", hv, load_ssh_config(tmp_path / "none"))
    with Connection(spec) as c:
        assert c.run("echo $SSH_CONNECTION").stdout.split()[0] == bastion


# -- unreachable -------------------------------------------------------------------------------


def test_unreachable_host_reported_once_others_go_on(lab, lab_fault, specs, caplog):
    caplog.set_level(logging.DEBUG, logger="y7deploy.fleet.connection")
    with lab_fault("jetson04", "link-down"), ConnectionPool(specs, connect_timeout=2) as pool:
        results = run_parallel(list(specs), lambda h: pool.get(h).run("hostname").stdout.strip(), forks=10)
    assert isinstance(results["jetson04"], Unreachable) and "timed out after 2s" in str(results["jetson04"])
    assert results["jetson01"] == "jetson01" and results["jetson03"] == "jetson03"
    connects = [r.getMessage() for r in caplog.records if r.getMessage().startswith("jetson04: connecting")]
    assert len(connects) == 1  # no retry after a timeout: the host is down


def tries(caplog, host: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "y7deploy.fleet.connection"
            and r.getMessage().startswith(f"{host}: try ")]


def test_sshd_down_is_unreachable_after_bounded_retries(lab_fault, specs, caplog):
    caplog.set_level(logging.DEBUG, logger="y7deploy.fleet.connection")
    with lab_fault("jetson04", "kill-sshd"):
        with pytest.raises(Unreachable, match="refused"):
            Connection(specs["jetson04"], retries=2, backoff=0.2).open()
    assert [t.split(":")[1] for t in tries(caplog, "jetson04")] == [" try 1 of 3", " try 2 of 3", " try 3 of 3"]


def test_refused_port_is_unreachable(specs, caplog):
    caplog.set_level(logging.DEBUG, logger="y7deploy.fleet.connection")
    spec = dataclasses.replace(specs["jetson01"], port=2)
    with pytest.raises(Unreachable, match="refused"):
        Connection(spec, retries=1, backoff=0.1).open()
    assert len(tries(caplog, "jetson01")) == 2


def test_link_lost_mid_command(lab, lab_fault, specs):
    c = Connection(specs["jetson04"], link_timeout=2).open()
    try:
        with lab_fault("jetson04", "link-down"):
            t0 = time.monotonic()
            with pytest.raises(Unreachable):
                c.run("head -c 50000000 /dev/zero", stdin=b"x" * 8_000_000)
            assert time.monotonic() - t0 < 30
            with pytest.raises(Unreachable):  # no silent reconnect
                c.run("true")
    finally:
        c.close()


def test_auth_failure_is_unreachable(specs, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "wrong")], check=True)
    spec = dataclasses.replace(specs["jetson01"], key_files=(str(tmp_path / "wrong"),), look_for_default_keys=False,
                               password="not-this-one")
    with pytest.raises(Unreachable, match="authentication as jetson failed") as err:
        Connection(spec).open()
    assert "not-this-one" not in str(err.value)


# -- pure helpers (no lab needed, but cheap) ---------------------------------------------------


def test_run_parallel_is_bounded():
    active, peak, lock = [0], [0], threading.Lock()

    def work(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        if i == 3:
            raise ValueError("boom")
        return i * 2

    results = run_parallel(range(12), work, forks=3)
    assert peak[0] == 3
    assert list(results) == list(range(12)) and results[5] == 10 and isinstance(results[3], ValueError)


def test_parse_ssh_args():
    opts = parse_ssh_args("-o UserKnownHostsFile=/a/kh -oStrictHostKeyChecking=no -o 'ProxyJump u@b:2' -i k -p 2200")
    assert opts == {"userknownhostsfile": "/a/kh", "stricthostkeychecking": "no", "proxyjump": "u@b:2",
                    "identityfile": "k", "port": "2200"}


def test_secrets_stay_out_of_repr(tmp_path):
    spec = host_spec("h", {"ansible_host": "198.18.0.1", "ansible_password": "hunter2",
                           "ansible_become_password": "sudo-secret"}, load_ssh_config(tmp_path / "none"))
    assert spec.password == "hunter2"
    for text in (repr(spec), str(spec), repr(Connection(spec))):
        assert "hunter2" not in text and "sudo-secret" not in text

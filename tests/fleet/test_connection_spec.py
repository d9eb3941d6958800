"""HostSpec: what an inventory and ~/.ssh/config say about reaching a host (no network needed)."""

from __future__ import annotations

import pytest

from y7deploy.errors import UserError
from y7deploy.fleet.hostkeys import known_host_name, preferred_key_types
from y7deploy.fleet.hostspec import DEFAULT_KNOWN_HOSTS, host_spec, load_ssh_config, parse_ssh_args
from y7deploy.fleet.inventory import load_inventory


@pytest.fixture
def config(tmp_path):
    cfg = tmp_path / "config"
    cfg.write_text(
        "Host cam-*\n  User pi\n  Port 2022\n  IdentityFile ~/.ssh/cam_key\n"
        "Host cam-a\n  HostName 198.18.0.21\n  ProxyJump ops@gw.example:2200\n"
        "Host gw.example\n  HostName 198.18.0.1\n  IdentityFile /keys/gw\n"
        "Host strict-off\n  StrictHostKeyChecking no\n  UserKnownHostsFile /kh/one /kh/two\n"
    )
    return load_ssh_config(cfg)


def test_ssh_config_applies_under_inventory_vars(config):
    spec = host_spec("cam-a", {}, config)
    assert (spec.host, spec.port, spec.user) == ("198.18.0.21", 2022, "pi")
    assert spec.key_files[-1].endswith("/.ssh/cam_key")
    (hop,) = spec.jump
    assert (hop.host, hop.port, hop.user) == ("198.18.0.1", 2200, "ops")
    assert hop.key_files[0] == "/keys/gw"  # its own key first, then the target's
    spec = host_spec("cam-a", {"ansible_port": 22, "ansible_user": "jetson",
                               "ansible_ssh_private_key_file": "/k/deploy"}, config)
    assert (spec.port, spec.user, spec.key_files[0]) == (22, "jetson", "/k/deploy")


def test_ansible_host_is_what_ssh_config_is_matched_against(config):
    spec = host_spec("front-door", {"ansible_host": "cam-a"}, config)
    assert spec.host == "198.18.0.21" and spec.name == "front-door"


def test_known_hosts_and_checking(config):
    spec = host_spec("strict-off", {}, config)
    assert spec.strict_host_key_checking == "accept-new"  # "no" is honoured as accept-new, never as "anything"
    assert spec.known_hosts_files[:2] == ("/kh/one", "/kh/two") and spec.record_known_hosts_to == "/kh/one"
    assert DEFAULT_KNOWN_HOSTS in spec.known_hosts_files
    plain = host_spec("h", {}, config)
    assert plain.strict_host_key_checking == "yes" and plain.record_known_hosts_to == DEFAULT_KNOWN_HOSTS
    args = host_spec("h", {"ansible_ssh_common_args": "-o UserKnownHostsFile=/x/kh -o StrictHostKeyChecking=yes"},
                     config)
    assert args.known_hosts_files[0] == "/x/kh" and args.strict_host_key_checking == "yes"
    assert host_spec("h", {"ansible_host_key_checking": False}, config).strict_host_key_checking == "accept-new"


def test_old_ansible_names_and_timeouts(config):
    spec = host_spec("h", {"ansible_ssh_host": "10.0.0.5", "ansible_ssh_port": "2200", "ansible_ssh_user": "u",
                           "ansible_ssh_pass": "pw", "ansible_become_pass": "bpw", "ansible_timeout": 3}, config)
    assert (spec.host, spec.port, spec.user, spec.password, spec.become_password, spec.connect_timeout) == (
        "10.0.0.5", 2200, "u", "pw", "bpw", 3.0)
    with pytest.raises(UserError, match="port"):
        host_spec("h", {"ansible_port": "twenty"}, config)


def test_jump_chain_and_ports(config):
    spec = host_spec("h", {"ansible_ssh_common_args": "-J a@one:2201,[fe80::1]:2202,three"}, config)
    assert [(j.user, j.host, j.port) for j in spec.jump] == [
        ("a", "one", 2201), (spec.user, "fe80::1", 2202), (spec.user, "three", 22)]


def test_parse_ssh_args_forms():
    opts = parse_ssh_args("-oProxyJump=b -o ConnectTimeout=4 -o 'ServerAliveInterval 7' -l bob -F /cfg -i a -i b")
    assert opts == {"proxyjump": "b", "connecttimeout": "4", "serveraliveinterval": "7", "user": "bob",
                    "configfile": "/cfg", "identityfile": "a\nb"}
    assert parse_ssh_args("-o IdentityFile=a -o IdentityFile=b")["identityfile"] == "a\nb"
    with pytest.raises(UserError):
        parse_ssh_args("-o 'unterminated")


def test_lab_style_inventory(tmp_path):
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        "all:\n  children:\n    orin:\n      hosts:\n        j1:\n          ansible_host: 198.18.3.11\n"
        "          ansible_user: jetson\n          ansible_ssh_private_key_file: /lab/id_ed25519\n"
        "          ansible_ssh_common_args: -o UserKnownHostsFile=/lab/known_hosts -o StrictHostKeyChecking=yes\n"
    )
    spec = host_spec("j1", load_inventory(inv).host_vars("j1"), load_ssh_config(tmp_path / "absent"))
    assert (spec.host, spec.user, spec.key_files, spec.known_hosts_files[0]) == (
        "198.18.3.11", "jetson", ("/lab/id_ed25519",), "/lab/known_hosts")


def test_host_key_names_and_algorithm_order():
    assert known_host_name("198.18.0.1", 22) == "198.18.0.1"
    assert known_host_name("198.18.0.1", 2222) == "[198.18.0.1]:2222"

    class Key:
        def __init__(self, name):
            self.name = name

        def get_name(self):
            return self.name

    offered = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
    assert preferred_key_types([("kh", Key("ssh-rsa"))], offered)[:2] == ("rsa-sha2-512", "rsa-sha2-256")
    assert preferred_key_types([("kh", Key("ecdsa-sha2-nistp256"))], offered)[0] == "ecdsa-sha2-nistp256"
    assert preferred_key_types([], offered) == offered


def test_unsupported_connection_or_become_method_is_bad_input(config):
    with pytest.raises(UserError, match="ansible_connection=local"):
        host_spec("h", {"ansible_connection": "local"}, config)
    with pytest.raises(UserError, match="ansible_become_method=su"):
        host_spec("h", {"ansible_become_method": "su"}, config)
    assert host_spec("h", {"ansible_connection": "ssh", "ansible_become_method": "sudo"}, config).host == "h"


def test_host_key_alias(config):
    spec = host_spec("h", {"ansible_ssh_common_args": "-o HostKeyAlias=cam-front -J gw.example"}, config)
    assert spec.host_key_alias == "cam-front" and spec.jump[0].host_key_alias is None


def test_known_hosts_matching(tmp_path):
    import subprocess

    from y7deploy.fleet.hostkeys import KnownHostsPolicy, known_keys

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "a")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "b")], check=True)
    a = " ".join((tmp_path / "a.pub").read_text().split()[:2])
    b = " ".join((tmp_path / "b.pub").read_text().split()[:2])
    kh = tmp_path / "known_hosts"
    kh.write_text(f"plain.example,10.0.0.1 {a}\n[10.0.0.1]:2222 {b}\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(kh)], check=True, capture_output=True)  # all hashed now
    with kh.open("a") as f:
        f.write(f"# a comment\n*.site-a,!bad.site-a {a}\n@revoked revoked.example {b}\nrevoked.example {b}\n"
                f"@cert-authority *.example {b}\ngarbage line\n")
    policy = KnownHostsPolicy((str(kh), str(tmp_path / "missing")), str(kh))

    def names(host, port=22):
        return [k.get_base64()[-8:] for _, k in known_keys(policy, host, port)]

    key_a, key_b = a.split()[1][-8:], b.split()[1][-8:]
    assert names("plain.example") == [key_a] and names("10.0.0.1") == [key_a]
    assert names("10.0.0.1", 2222) == [key_b]  # [host]:port entries are separate
    assert names("jetson01.site-a") == [key_a] and names("bad.site-a") == []  # wildcard and negation
    assert names("revoked.example") == []  # @revoked wins over a plain entry
    assert names("other.example") == []  # @cert-authority lines vouch for no plain key

"""inventory/, the example fleet: ansible-inventory reads it as y7deploy does, and a push
plan over it (facts written by hand per module) gives the classes, canaries, cameras and
Kafka sink an operator reads in it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.deploy.plan import PushOptions, plan_json, plan_push
from y7deploy.fleet.inventory import load_inventory

from deploy_canned import NANO, ORIN_NANO, XAVIER, files, keyfile, manifest

INVENTORY = Path(__file__).resolve().parents[2] / "inventory"
MODULE_FACTS = {"orin_nano": ORIN_NANO, "xavier_nx": XAVIER, "nano": NANO}


def test_ansible_inventory_reads_it_as_y7deploy_does():
    bindir = Path(sys.executable).parent
    ours = json.loads(subprocess.run([str(bindir / "y7deploy"), "inventory", "-i", str(INVENTORY), "--list"],
                                     capture_output=True, text=True, check=True).stdout)
    theirs = json.loads(subprocess.run([str(bindir / "ansible-inventory"), "-i", str(INVENTORY), "--list"],
                                       capture_output=True, text=True, check=True).stdout)
    assert ours == theirs
    groups = theirs["all"]["children"]
    assert {"site_a", "site_b", "orin_nano", "xavier_nx", "nano", "canary"} <= set(groups)
    assert sorted(theirs["site_a"]["hosts"] + theirs["site_b"]["hosts"]) == \
        sorted(theirs["orin_nano"]["hosts"] + theirs["xavier_nx"]["hosts"] + theirs["nano"]["hosts"])


def _fleet(monkeypatch, **env):
    for name in ("Y7_KAFKA_PASSWORD", "Y7_CAMERA_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    inv = load_inventory(INVENTORY)
    hosts = inv.group_hosts("all")
    variables = {h: inv.host_vars(h) for h in hosts}
    facts = {h: next(f for g, f in MODULE_FACTS.items() if g in variables[h]["group_names"]) for h in hosts}
    return facts, variables


def test_a_push_plan_over_the_example_fleet(monkeypatch):
    facts, variables = _fleet(monkeypatch, Y7_KAFKA_PASSWORD="dock-kafka-8812", Y7_CAMERA_PASSWORD="gate-cam-3391")
    plan = plan_push(manifest(), files(), facts, variables, PushOptions(parser_sha="5e1f00aa11bb22cc"))
    assert plan.ok, plan.refusals
    assert sorted(map(sorted, plan.classes.values())) == [["cam-a01", "cam-a02", "cam-b01"], ["cam-a03", "cam-b02",
                                                                                              "cam-b03"], ["cam-a04"]]
    assert sorted(plan.waves()[0]) == ["cam-a01", "cam-a04", "cam-b02"]  # the canary group wins its class
    streams = {h: p.n_streams for h, p in plan.hosts.items()}
    assert streams == {"cam-a01": 2, "cam-a02": 4, "cam-a03": 1, "cam-a04": 1, "cam-b01": 2, "cam-b02": 1,
                       "cam-b03": 1}
    assert {h: p.min_fps for h, p in plan.hosts.items()}["cam-a04"] == 5  # group_vars/nano.yml
    kafka = {h for h, p in plan.hosts.items() if any(r.name == "message_broker_config.txt" for r in p.rendered)}
    assert kafka == {"cam-b01", "cam-b02", "cam-b03"}
    b01 = {r.name: r for r in plan.hosts["cam-b01"].rendered}
    assert "sasl.password=dock-kafka-8812" in b01["message_broker_config.txt"].content
    app = keyfile(b01["deepstream_app_config.txt"].content)
    assert app["sink1"]["msg-broker-conn-str"] == "kafka.site-b.example;9093" and app["sink1"]["topic"] == "dock-detections"
    a01 = keyfile({r.name: r for r in plan.hosts["cam-a01"].rendered}["deepstream_app_config.txt"].content)
    assert a01["source0"]["uri"] == "rtsp://viewer:gate-cam-3391@10.20.1.11/Streaming/Channels/101"
    assert a01["source0"]["select-rtp-protocol"] == "4" and a01["tiled-display"]["columns"] == "2"
    a03 = keyfile({r.name: r for r in plan.hosts["cam-a03"].rendered}["deepstream_app_config.txt"].content)
    assert a03["source0"]["type"] == "5" and a03["source0"]["camera-csi-sensor-id"] == "0"
    a04 = keyfile({r.name: r for r in plan.hosts["cam-a04"].rendered}["deepstream_app_config.txt"].content)
    assert a04["source0"]["type"] == "1" and a04["source0"]["camera-v4l2-dev-node"] == "0"
    shown = plan_json(plan)
    assert "dock-kafka-8812" not in shown and "gate-cam-3391" not in shown


def test_unset_secrets_are_refused_by_name(monkeypatch):
    facts, variables = _fleet(monkeypatch)
    plan = plan_push(manifest(), files(), facts, variables, PushOptions(parser_sha="5e1f00aa11bb22cc"))
    reasons = {h: r for h, r in plan.refusals}
    assert set(reasons) == {"cam-a01", "cam-b01", "cam-b02", "cam-b03"}
    assert "sasl_password is empty" in reasons["cam-b01"] and "without a password" in reasons["cam-a01"]


def test_every_rendered_config_is_a_well_formed_key_file(monkeypatch):
    """GLib's key-file rules, which deepstream-app and nvinfer read with: [groups], key=value,
    # comments, no key twice in a group and no group twice (configparser strict mode)."""
    import configparser

    facts, variables = _fleet(monkeypatch, Y7_KAFKA_PASSWORD="k", Y7_CAMERA_PASSWORD="c")
    plan = plan_push(manifest(), files(), facts, variables, PushOptions(parser_sha="5e1f00aa11bb22cc"))
    for host, p in plan.hosts.items():
        for r in p.rendered:
            parser = configparser.ConfigParser(strict=True, interpolation=None, comment_prefixes=("#",),
                                               delimiters=("=",))
            parser.optionxform = str
            parser.read_string(r.content, source=f"{host}:{r.name}")
            assert parser.sections(), (host, r.name)

"""The package's templates render the same under ansible-playbook's template module as under
y7deploy (DESIGN: users copy them into their own playbooks). For the example fleet's hosts,
each template gets the variables a push plan renders it with; ansible-playbook (-c local, one
inventory host per fleet host) writes its files, and they equal y7deploy's byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from y7deploy.deploy import plan as plan_mod
from y7deploy.deploy.plan import PushOptions, plan_push
from y7deploy.fleet.inventory import load_inventory
from y7deploy.fleet.templating import HostVars, Templar

from deploy_canned import NANO, ORIN_NANO, XAVIER, files, manifest

INVENTORY = Path(__file__).resolve().parents[2] / "inventory"
MODULE_FACTS = {"orin_nano": ORIN_NANO, "xavier_nx": XAVIER, "nano": NANO}
TEMPLATES = Path(plan_mod.__file__).resolve().parents[1] / "templates"
SERVICE_TEMPLATES = ["y7deploy-app.service.j2", "y7deploy-clocks.service.j2", "y7deploy-guard.service.j2"]
# Names Ansible sets itself for each host; the rest of a host's variables go in its inventory.
MAGIC = {"inventory_hostname", "inventory_hostname_short", "group_names", "groups", "hostvars",
         "inventory_dir", "inventory_file", "playbook_dir", "omit"}


def _planned_renders(monkeypatch) -> tuple[dict[tuple[str, str], str], dict[str, dict[str, Any]]]:
    """(host, template) -> the text the plan rendered, and each host's variables as the plan saw them."""
    monkeypatch.setenv("Y7_KAFKA_PASSWORD", "dock-kafka-8812")
    monkeypatch.setenv("Y7_CAMERA_PASSWORD", "gate-cam-3391")
    seen: dict[str, dict[str, Any]] = {}
    real_render = plan_mod.Templates.render

    def recording_render(self: Any, name: str, variables: Any) -> str:
        seen.setdefault(variables["inventory_hostname"], {}).update(
            {k: variables[k] for k in variables if k not in MAGIC})
        return real_render(self, name, variables)

    monkeypatch.setattr(plan_mod.Templates, "render", recording_render)
    inv = load_inventory(INVENTORY)
    hosts = inv.group_hosts("all")
    variables = {h: inv.host_vars(h) for h in hosts}
    facts = {h: next(f for g, f in MODULE_FACTS.items() if g in variables[h]["group_names"]) for h in hosts}
    plan = plan_push(manifest(), files(), facts, variables, PushOptions(parser_sha="5e1f00aa11bb22cc"))
    assert plan.ok, plan.refusals
    ours = {(h, r.name + ".j2"): r.content for h, p in plan.hosts.items() for r in p.rendered}
    for host, host_vars in seen.items():
        templar = Templar()
        hv = HostVars(templar, [{"inventory_hostname": host}, host_vars])
        for name in SERVICE_TEMPLATES:  # provision renders these with the template module
            ours[(host, name)] = templar.render_string((TEMPLATES / name).read_text(), hv)
    return ours, seen


def test_package_templates_render_alike_under_ansible_playbook(monkeypatch, tmp_path: Path) -> None:
    ours, seen = _planned_renders(monkeypatch)
    assert {"cam-a01", "cam-b01", "cam-a03", "cam-a04"} <= set(seen)  # RTSP with login, Kafka, CSI, V4L2
    assert any(name == "message_broker_config.txt.j2" for _, name in ours)
    hosts = {}
    for host, host_vars in seen.items():
        names = sorted(name for h, name in ours if h == host)
        hosts[host] = {**host_vars, "y7t_templates": names, "ansible_connection": "local",
                       "ansible_python_interpreter": sys.executable}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    out = tmp_path / "ansible"
    (tmp_path / "pb.yml").write_text(yaml.safe_dump([{
        "hosts": "all", "gather_facts": False,
        "tasks": [
            {"ansible.builtin.file": {"path": f"{out}/{{{{ inventory_hostname }}}}", "state": "directory"}},
            {"ansible.builtin.template": {"src": f"{TEMPLATES}/{{{{ item }}}}",
                                          "dest": f"{out}/{{{{ inventory_hostname }}}}/{{{{ item }}}}"},
             "loop": "{{ y7t_templates }}"},
        ]}]))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                           str(tmp_path / "pb.yml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for (host, name), text in sorted(ours.items()):
        assert (out / host / name).read_bytes() == text.encode(), (host, name)

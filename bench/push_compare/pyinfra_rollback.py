"""The rollback of bench/push_compare.py for pyinfra (v3): the same steps as rollback.yml."""

from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import Link
from pyinfra.operations import files, server, systemd

HERE = Path(__file__).resolve().parent
ROOT = "/opt/y7deploy"

running = host.get_fact(Link, path=f"{ROOT}/current")
previous = host.get_fact(Link, path=f"{ROOT}/previous")
if not previous:
    raise SystemExit(f"{host.name}: {ROOT}/previous: no previous release")
files.link(name="switch current back", path=f"{ROOT}/current", target=previous["link_target"], _sudo=True)
files.link(name="previous -> the release rolled back from", path=f"{ROOT}/previous",
           target=running["link_target"], _sudo=True)
systemd.service(name="restart the app", service="y7deploy-app.service", running=True, restarted=True, _sudo=True)
server.script(name="wait for the first **PERF: line", src=str(HERE / "wait_perf.sh"),
              args=(str(host.data.get("perf_timeout") or 120),), _sudo=True)

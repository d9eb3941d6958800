"""The bench's small deploy written for pyinfra (v3): the same steps as deploy.yml."""

from pyinfra import host
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

APP_DIR = "/opt/y7bench"
HERE = __file__.rsplit("/", 1)[0]
BLOB = host.data.get("blob")

files.directory(name="app directory", path=APP_DIR, mode="755", _sudo=True)
changes = [
    files.put(name="model blob (50 MB)", src=BLOB, dest=f"{APP_DIR}/model.bin", mode="644", _sudo=True),
    files.template(name="app config", src=f"{HERE}/templates/app.conf.j2", dest=f"{APP_DIR}/app.conf",
                   mode="644", inventory_hostname=host.name, app_dir=APP_DIR, _sudo=True),
    files.template(name="inference config", src=f"{HERE}/templates/infer.conf.j2",
                   dest=f"{APP_DIR}/infer.conf", mode="644", inventory_hostname=host.name,
                   app_dir=APP_DIR, _sudo=True),
    files.put(name="unit file", src=f"{HERE}/files/y7bench-app.service",
              dest="/etc/systemd/system/y7bench-app.service", mode="644", _sudo=True),
]
systemd.service(name="restart app", service="y7bench-app.service", restarted=True, daemon_reload=True,
                _sudo=True, _if=any_changed(*changes))

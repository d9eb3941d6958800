"""The push of bench/push_compare.py written for pyinfra (v3): the same steps as push.yml.

    pyinfra -y --parallel N INVENTORY.py bench/push_compare/pyinfra_push.py --data release_src=releases/ID

Host data (the inventory's): y7_sources, y7_perf_interval_s, y7_precision, ssh_user.
"""

import json
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File, Link
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parent.parent / "templates"
ROOT = "/opt/y7deploy"
SRC = Path(host.data.release_src)
MANIFEST = json.loads((SRC / "manifest.json").read_text())
RELEASE_DIR = f"{ROOT}/releases/{MANIFEST['id']}"
APP_USER = host.data.get("ssh_user") or "jetson"
PRECISION = host.data.get("y7_precision") or "fp16"

trt, parser_lib = host.get_fact(
    Command, f"dpkg-query -W -f='${{Version}}\\n' tensorrt | cut -d- -f1 && "
             f"ls -1t {ROOT}/lib/*/libnvdsinfer_custom_impl_Yolo.so | head -n1").splitlines()
engine = (f"{ROOT}/engines/{MANIFEST['files']['model.onnx']['sha256'][:16]}-{PRECISION}"
          f"-b{MANIFEST['batch']}-trt{trt}.engine")
build_only = "--skipInference" if int(trt.split(".")[0]) >= 10 else "--buildOnly"

for name in ("engines", "cache"):
    files.directory(name=f"{name} directory", path=f"{ROOT}/{name}", mode="755", _sudo=True)
files.directory(name="release directory", path=RELEASE_DIR, user=APP_USER, group=APP_USER, mode="755",
                _sudo=True)
uploads = [files.put(name=f"release file {f.name}", src=str(f), dest=f"{RELEASE_DIR}/{f.name}",
                     user=APP_USER, group=APP_USER, mode="644", _sudo=True)
           for f in sorted(SRC.iterdir()) if f.is_file()]
template_vars = {
    "y7_sources": host.data.y7_sources,
    "y7_perf_interval_s": host.data.get("y7_perf_interval_s") or 5,
    "y7_precision": PRECISION,
    "y7_onnx_file": f"{RELEASE_DIR}/model.onnx",
    "y7_engine_file": engine,
    "y7_labels_file": f"{RELEASE_DIR}/labels.txt",
    "y7_batch_size": MANIFEST["batch"],
    "y7_num_classes": MANIFEST["nc"],
    "y7_net_scale_factor": MANIFEST["input"]["net_scale_factor"],
    "y7_parser_lib": parser_lib,
    "y7_infer_config": f"{RELEASE_DIR}/config_infer_primary.txt",
}
configs = [files.template(name=f"config {name}", src=str(TEMPLATES / f"{name}.j2"), dest=f"{RELEASE_DIR}/{name}",
                          user=APP_USER, group=APP_USER, mode="644", _sudo=True, **template_vars)
           for name in ("config_infer_primary.txt", "deepstream_app_config.txt")]
if not host.get_fact(File, path=engine):
    server.shell(name="build the engine", _sudo=True, commands=[
        f"/usr/src/tensorrt/bin/trtexec --onnx={RELEASE_DIR}/model.onnx --saveEngine={engine}.tmp {build_only}"
        f"{' --fp16' if PRECISION == 'fp16' else ''} --timingCacheFile={ROOT}/cache/timing-trt{trt}.cache"
        f" > {engine}.log 2>&1 && mv -f {engine}.tmp {engine}"])

running = host.get_fact(Link, path=f"{ROOT}/current")
if running and running["link_target"] != RELEASE_DIR:
    files.link(name="previous -> the release that ran before", path=f"{ROOT}/previous",
               target=running["link_target"], _sudo=True)
switched = files.link(name="switch current", path=f"{ROOT}/current", target=RELEASE_DIR, _sudo=True)
changed = any_changed(switched, *configs)
systemd.service(name="restart the app", service="y7deploy-app.service", running=True, restarted=True,
                enabled=True, _sudo=True, _if=changed)
server.script(name="wait for the first **PERF: line", src=str(HERE / "wait_perf.sh"),
              args=(str(host.data.get("perf_timeout") or 120),), _sudo=True, _if=changed)

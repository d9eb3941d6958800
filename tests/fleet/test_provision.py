"""playbooks/provision.yml on the lab over SSH, and the DeepStream templates read by the
lab's deepstream-app stand-in: the parser built per CUDA, the unit installed, re-runs quiet."""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import fleet_kit as kit

from y7deploy.fleet.templating import Templar, TemplateError


REPO = Path(__file__).resolve().parents[2]
PROVISION = REPO / "playbooks" / "provision.yml"
TEMPLATES = REPO / "templates"
ROOT = "/opt/y7deploy"
LIB = "libnvdsinfer_custom_impl_Yolo.so"
RELEASE = f"{ROOT}/releases/y7t-provision-render"  # this file's own fake release
SAMPLE = "file:///opt/nvidia/deepstream/deepstream/samples/streams/sample_1080p_h264.mp4"

# What provision puts on a host, removed before and after this file's tests (the lab is shared).
# A host pushed to earlier in the run has the app enabled: disable it, as a fresh host has it.
CLEAN = (f"systemctl disable --now y7deploy-app.service 2>/dev/null; rm -f /etc/systemd/system/y7deploy-app.service; "
         f"systemctl daemon-reload; rm -rf {ROOT}/lib {ROOT}/staging {RELEASE}; "
         f"rmdir {ROOT}/releases 2>/dev/null; true")


def _on_all(lab, command: str) -> None:
    with ThreadPoolExecutor(len(lab.hosts)) as pool:
        list(pool.map(lambda h: lab.root(h.name, command), lab.hosts))


# Every path under /opt/y7deploy and the unit, with owner, group, mode, size, mtime and ctime:
# a chmod or chown to the same value still moves ctime, so "untouched" means untouched.
SNAPSHOT = (f"find {ROOT} /etc/systemd/system/y7deploy-app.service -printf '%p %u %g %m %s %T@ %C@\\n' "
            "2>/dev/null | sort")


def _snapshots(fleet) -> dict[str, str]:
    return {h: fleet.root(h, SNAPSHOT) for h in fleet.hosts}


def tree_sha(src: Path) -> str:
    """The parser's src-sha as provision.yml documents it: sha256 over `sha256sum` lines
    ("<hex>  ./<path>") of every file, paths in byte order; first 16 hex digits."""
    paths = sorted(("./" + p.relative_to(src).as_posix()).encode() for p in src.rglob("*") if p.is_file())
    lines = b"".join(hashlib.sha256((src / p.decode()[2:]).read_bytes()).hexdigest().encode() + b"  " + p + b"\n"
                     for p in paths)
    return hashlib.sha256(lines).hexdigest()[:16]


def sha_var(src: Path) -> tuple[str, ...]:
    """provision.yml computes src-sha with a `pipe` lookup, which y7deploy's runner lacks so
    far: pass the id as the extra var provision.yml takes instead (computed here, the same way)."""
    return ("-e", f"y7_parser_sha={tree_sha(src / 'nvdsinfer_custom_impl_Yolo')}")


@pytest.fixture(scope="module")
def provisioned(lab, tmp_path_factory):
    """The lab provisioned twice, each run preceded by a --check run whose before/after
    snapshots of /opt/y7deploy are kept on the Fleet: (fleet, first, second, host -> CUDA_VER)."""
    fleet = kit.Fleet(lab, tmp_path_factory.mktemp("provision"))
    sha = sha_var(Path(lab.deepstream_yolo_src))
    _on_all(lab, CLEAN)
    try:
        before = _snapshots(fleet)
        fleet.check_run = fleet.play(PROVISION, "--check", *sha)
        fleet.check_fresh = (before, _snapshots(fleet))
        first = fleet.play(PROVISION, *sha)
        before = _snapshots(fleet)
        fleet.check_again = fleet.play(PROVISION, "--check", *sha)
        fleet.check_provisioned = (before, _snapshots(fleet))
        second = fleet.play(PROVISION, *sha)
        cuda = {h: ".".join(f["cuda"].split(".")[:2]) for h, f in fleet.facts().items()}
        yield fleet, first, second, cuda
    finally:
        _on_all(lab, CLEAN)


pytestmark = pytest.mark.lab


def _libs(fleet, host: str) -> list[str]:
    return fleet.root(host, f"ls -d {ROOT}/lib/*/{LIB} 2>/dev/null").split()


def test_provision_builds_the_parser_for_each_hosts_cuda(provisioned):
    fleet, first, _, cuda = provisioned
    assert first.exit_code == 0, first.output
    recap = first.recap()
    assert set(recap) == set(fleet.hosts)
    assert all(r["failed"] == 0 and r["changed"] > 0 for r in recap.values()), recap
    assert set(cuda.values()) == {"10.2", "11.4", "12.6"}
    shas = set()
    for host in fleet.hosts:
        (lib,) = _libs(fleet, host)
        match = re.fullmatch(rf"{ROOT}/lib/([0-9a-f]{{16}})-cuda([\d.]+)/{LIB}", lib)
        assert match and match.group(2) == cuda[host], (host, lib)
        shas.add(match.group(1))
        head = fleet.lab.get(host, lib)[:18]
        assert head[:4] == b"\x7fELF" and int.from_bytes(head[16:18], "little") == 3  # ET_DYN
    assert len(shas) == 1  # the same source gives the same id on every host


def test_provision_lays_out_the_device_and_installs_the_unit_disabled(provisioned):
    fleet, *_ = provisioned
    for host in fleet.hosts:
        owners = fleet.root(host, f"stat -c '%n %U %a' {ROOT} {ROOT}/releases {ROOT}/lib").split("\n")
        assert owners[:3] == [f"{ROOT} root 755", f"{ROOT}/releases jetson 755", f"{ROOT}/lib root 755"]
        unit = fleet.lab.root(host, "systemctl cat y7deploy-app.service")
        assert unit.returncode == 0, unit.stderr
        assert f"WorkingDirectory={ROOT}/current" in unit.stdout
        assert "ExecStart=/usr/bin/deepstream-app -c deepstream_app_config.txt" in unit.stdout
        assert "User=jetson" in unit.stdout and "Restart=on-failure" in unit.stdout
        assert fleet.root(host, "systemctl is-enabled y7deploy-app.service").strip() == "disabled"
        # the handler reloaded systemd after the unit was written
        assert fleet.root(host, "systemctl show -p NeedDaemonReload y7deploy-app.service").strip() == \
            "NeedDaemonReload=no"
        assert fleet.root(host, "systemctl is-active y7deploy-app.service").strip() == "inactive"


def test_check_mode_on_a_fresh_fleet_leaves_it_untouched(provisioned):
    fleet, *_ = provisioned
    assert fleet.check_run.exit_code == 0, fleet.check_run.output
    assert all(r["changed"] > 0 for r in fleet.check_run.recap().values())  # it says what it would do
    before, after = fleet.check_fresh
    assert after == before
    assert not any(f"{ROOT}/lib" in line for text in after.values() for line in text.splitlines())


def test_check_mode_on_a_provisioned_fleet_changes_no_file_owner_or_mode(provisioned):
    fleet, *_ = provisioned
    assert fleet.check_again.exit_code == 0, fleet.check_again.output
    assert all(r["changed"] == 0 for r in fleet.check_again.recap().values()), fleet.check_again.recap()
    before, after = fleet.check_provisioned
    assert all(f"{ROOT}/lib" in text for text in before.values())  # there was a tree to compare
    assert after == before


def test_the_whole_parser_tree_is_uploaded_and_named_by_its_sha(provisioned):
    fleet, *_ = provisioned
    src = Path(fleet.lab.deepstream_yolo_src) / "nvdsinfer_custom_impl_Yolo"
    sha = tree_sha(src)
    files = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
    assert any("/" in f for f in files)  # the fixture has subdirectories (layers/)
    for host in fleet.hosts:
        (lib,) = _libs(fleet, host)
        assert lib.split("/")[-2].startswith(f"{sha}-cuda")
        staged = fleet.root(host, f"cd {ROOT}/staging/{sha}/nvdsinfer_custom_impl_Yolo && "
                                  "find . -type f ! -name '*.o' ! -name '*.so' | sed 's|^./||' | sort").split()
        assert staged == files


def test_cuda_ver_comes_from_deepstream_yolos_table(provisioned):
    """DeepStream-Yolo's README: 6.0.1 -> 10.2, 6.3 -> 11.4, 7.1 -> 12.6 on Jetson."""
    fleet, *_ = provisioned
    table = {"6.0.1": "10.2", "6.3": "11.4", "7.1": "12.6"}
    for host, facts in fleet.facts().items():
        (lib,) = _libs(fleet, host)
        assert lib.split("/")[-2].endswith(f"-cuda{table[facts['deepstream']]}"), (host, lib)


def test_opencv_var_builds_with_opencv(provisioned):
    fleet, *_ = provisioned
    host = next(h.name for h in fleet.lab.hosts if h.profile == "xavier-nx-jp513")
    inventory = fleet.derived_inventory(all_vars={"deepstream_yolo_opencv": True})
    run = fleet.play(PROVISION, "--limit", host, *sha_var(Path(fleet.lab.deepstream_yolo_src)), inventory=inventory)
    try:
        assert run.exit_code == 0, run.output
        libs = _libs(fleet, host)
        (cv,) = [lib for lib in libs if "-opencv/" in lib]
        assert "libopencv_imgproc" in fleet.root(host, f"readelf -d {cv}")
    finally:
        fleet.root(host, f"rm -rf {ROOT}/lib/*-opencv")


def test_second_provision_changes_nothing(provisioned):
    fleet, _, second, _ = provisioned
    assert second.exit_code == 0, second.output
    recap = second.recap()
    assert set(recap) == set(fleet.hosts)
    assert all(r["changed"] == 0 and r["failed"] == 0 and r["ok"] > 0 for r in recap.values()), recap
    assert "RUNNING HANDLER" not in second.output  # the unit did not change: no daemon-reload


def test_changed_parser_source_gets_its_own_library(provisioned, tmp_path):
    fleet, *_ = provisioned
    host = fleet.hosts[0]
    (before,) = _libs(fleet, host)
    src = tmp_path / "DeepStream-Yolo"
    shutil.copytree(fleet.lab.deepstream_yolo_src, src)
    with open(src / "nvdsinfer_custom_impl_Yolo" / "utils.cpp", "a") as fh:
        fh.write("\n// a local patch\n")
    inventory = fleet.derived_inventory(all_vars={"deepstream_yolo_src": str(src)})
    try:
        run = fleet.play(PROVISION, "--limit", host, *sha_var(src), inventory=inventory)
        libs = _libs(fleet, host)
    finally:  # leave the host as the fixture provisioned it, for the tests after this one
        extra = [lib.rsplit("/", 1)[0] for lib in _libs(fleet, host) if lib != before]
        if extra:
            fleet.root(host, "rm -rf " + " ".join(map(shlex.quote, extra)))
    assert run.exit_code == 0, run.output
    assert run.recap()[host]["changed"] > 0
    assert len(libs) == 2 and before in libs  # the old build stays for releases that use it
    (after,) = set(libs) - {before}
    assert after.split("/")[-2].endswith(before.split("/")[-2][16:])  # same -cudaX.Y, other sha


def _render(name: str, variables: dict) -> str:
    return Templar().render_string((TEMPLATES / name).read_text(), variables)


def _key_file(text: str) -> dict[str, dict[str, str]]:
    groups: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = groups.setdefault(line.strip("[]"), {})
        else:
            key, _, value = line.partition("=")
            current[key] = value
    return groups


def test_templates_follow_precision_batch_and_sources():
    base = {"y7_num_classes": 3, "y7_parser_lib": "/x/lib.so", "y7_batch_size": 4}
    fp16 = _key_file(_render("config_infer_primary.txt.j2", base | {"y7_precision": "fp16"}))["property"]
    assert fp16["network-mode"] == "2" and fp16["batch-size"] == "4"
    assert fp16["model-engine-file"] == "model_b4_fp16.engine" and "int8-calib-file" not in fp16
    int8 = _key_file(_render("config_infer_primary.txt.j2", base | {"y7_precision": "int8"}))["property"]
    assert int8["network-mode"] == "1" and int8["int8-calib-file"] == "calib.table"
    app = _key_file(_render("deepstream_app_config.txt.j2", {"y7_sources": [
        {"uri": SAMPLE}, {"uri": "rtsp://cam/1"}]}))
    assert app["source0"]["type"] == "2" and app["source1"]["type"] == "4"  # 2: URI, 4: RTSP
    assert app["streammux"]["batch-size"] == "2" and app["streammux"]["live-source"] == "1"
    assert app["sink0"]["type"] == "1" and app["osd"]["enable"] == "0"
    assert app["tiled-display"]["rows"] == "1" and app["tiled-display"]["columns"] == "2"
    plain = _key_file(_render("deepstream_app_config.txt.j2", {"y7_sources": [SAMPLE]}))
    assert plain["source0"]["uri"] == SAMPLE and plain["streammux"]["live-source"] == "0"
    with pytest.raises(TemplateError, match="y7_sources"):
        _render("deepstream_app_config.txt.j2", {})
    with pytest.raises(TemplateError, match="y7_num_classes"):
        _render("config_infer_primary.txt.j2", {"y7_parser_lib": "/x/lib.so"})


def _tiny_onnx() -> bytes:
    """A one-node ONNX graph with a YOLO-shaped input, opset 13 (read by every lab TensorRT)."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])], "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 64, 64])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_rendered_configs_run_under_deepstream_app(provisioned):
    fleet, *_ = provisioned
    lab = fleet.lab
    host = next(h.name for h in lab.hosts if h.profile == "nano-jp461")  # DeepStream 6.0, oldest parser
    (lib,) = _libs(fleet, host)
    variables = {"y7_precision": "fp16", "y7_batch_size": 1, "y7_sources": [{"uri": SAMPLE}],
                 "y7_num_classes": 3, "y7_parser_lib": lib, "y7_perf_interval_s": 1}
    files = {
        "model.onnx": _tiny_onnx(),
        "labels.txt": "person\ncar\nbicycle\n",
        "config_infer_primary.txt": _render("config_infer_primary.txt.j2", variables),
        "deepstream_app_config.txt": _render("deepstream_app_config.txt.j2", variables),
    }
    for name, data in files.items():
        lab.put(host, f"{RELEASE}/{name}", data, owner="jetson")
    lab.root(host, f"chown jetson: {RELEASE}")  # nvinfer writes the engine it builds here

    remote = f"cd {shlex.quote(RELEASE)} && echo pid=$$ && exec deepstream-app -c deepstream_app_config.txt"
    proc = subprocess.Popen(lab.ssh_command(host, remote), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    watchdog = threading.Timer(45, proc.kill)  # a stand-in that never prints cannot hang the run
    watchdog.start()
    try:
        pid = None
        deadline = time.monotonic() + 30
        for line in proc.stdout:  # the stand-in flushes each line
            lines.append(line)
            if line.startswith("pid="):
                pid = int(line[4:])
            if re.match(r"\*\*PERF:\s+\d", line) or time.monotonic() > deadline:
                break
        assert any(re.match(r"\*\*PERF:\s+\d", line) for line in lines), "".join(lines)
        assert pid is not None
        lab.root(host, f"kill -INT {pid}")
        rest, _ = proc.communicate(timeout=15)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode == 0, output
    assert "App run successful" in output
    assert "serialize cuda engine to file" in output  # built from model.onnx: the ONNX path was read

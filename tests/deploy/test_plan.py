"""The push plan on canned facts: device classes, engine keys, configs, refusals, and
waves checked against ansible-playbook's own batching and max_fail_percentage."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from y7deploy.deploy.plan import PushOptions, max_fail_exceeded, plan_json, plan_push, waves
from y7deploy.errors import UserError

from deploy_canned import (CAMERA, MiB, NANO, OPTS, ORIN_NANO, SHA_SRC, XAVIER, facts, files, fleet,  # noqa: F401
                           keyfile, manifest)


# --- classes, keys, configs ------------------------------------------------------------------


def test_mixed_fleet_makes_one_class_per_module_l4t_tensorrt():
    f, v = fleet(nano1=NANO, nx1=XAVIER, nx2=XAVIER, orin1=ORIN_NANO)
    plan = plan_push(manifest(), files(), f, v, OPTS)
    assert plan.ok, plan.refusals
    assert sorted(map(sorted, plan.classes.values())) == [["nano1"], ["nx1", "nx2"], ["orin1"]]
    assert plan.hosts["nx1"].engine_key == plan.hosts["nx2"].engine_key
    assert len({p.engine_key for p in plan.hosts.values()}) == 3
    assert [h for h, p in plan.hosts.items() if p.canary] == ["nano1", "nx1", "orin1"]


def test_each_host_gets_its_tensorrts_flags():
    f, v = fleet(nano1=NANO, nx1=XAVIER, orin1=ORIN_NANO)
    plan = plan_push(manifest(), files(), f, v, PushOptions(parser_sha=SHA_SRC, workspace_mib=1024))
    nano, nx, orin = (plan.hosts[h].trtexec_argv for h in ("nano1", "nx1", "orin1"))
    assert "--workspace=1024" in nano and "--buildOnly" in nano
    assert "--memPoolSize=workspace:1024" in nx and "--buildOnly" in nx
    assert "--memPoolSize=workspace:1024M" in orin and "--skipInference" in orin
    for argv in (nano, nx, orin):
        assert argv[0] == "/usr/src/tensorrt/bin/trtexec" and "--fp16" in argv
        assert "--onnx=/opt/y7deploy/releases/yolov7-tiny-2/model.onnx" in argv
        assert not [a for a in argv if "Shapes" in a]  # a static model
        assert any(a.startswith("--timingCacheFile=/opt/y7deploy/cache/") for a in argv)
    assert f"--saveEngine={plan.hosts['nx1'].engine_tmp}" in nx
    assert plan.hosts["nx1"].engine_tmp != plan.hosts["nx1"].engine_path


def test_configs_name_absolute_paths_and_this_hosts_parser():
    f, v = fleet(nano1=NANO, orin1=ORIN_NANO)
    plan = plan_push(manifest(), files(), f, v, OPTS)
    for host, cuda in (("nano1", "10.2"), ("orin1", "12.6")):
        p = plan.hosts[host]
        rendered = {r.name: r for r in p.rendered}
        infer = keyfile(rendered["config_infer_primary.txt"].content)["property"]
        assert infer["model-engine-file"] == p.engine_path == f"/opt/y7deploy/engines/{p.engine_key}.engine"
        assert infer["onnx-file"] == "/opt/y7deploy/releases/yolov7-tiny-2/model.onnx"
        assert infer["labelfile-path"] == "/opt/y7deploy/releases/yolov7-tiny-2/labels.txt"
        assert infer["custom-lib-path"] == f"/opt/y7deploy/lib/{SHA_SRC}-cuda{cuda}/libnvdsinfer_custom_impl_Yolo.so"
        assert infer["num-detected-classes"] == "3" and infer["network-mode"] == "2" and infer["batch-size"] == "1"
        assert infer["engine-create-func-name"] == "NvDsInferYoloCudaEngineGet"
        assert infer["parse-bbox-func-name"] == "NvDsInferParseYolo" and infer["cluster-mode"] == "2"
        app = keyfile(rendered["deepstream_app_config.txt"].content)
        assert app["primary-gie"]["config-file"] == "/opt/y7deploy/releases/yolov7-tiny-2/config_infer_primary.txt"
        assert app["source0"]["type"] == "2" and app["streammux"]["batch-size"] == "1"
        assert not rendered["deepstream_app_config.txt"].secret
    assert [f.name for f in plan.hosts["nano1"].files] == ["labels.txt", "manifest.json", "model.onnx"]


def test_dynamic_model_batches_all_cameras_and_passes_shapes():
    cams = [{"uri": f"rtsp://cam{i}.site-a/stream1"} for i in range(3)]
    plan = plan_push(manifest(batch=None, dynamic_batch=True), files(), {"nx1": XAVIER},
                     {"nx1": {"y7_sources": cams}}, OPTS)
    p = plan.hosts["nx1"]
    assert p.batch == 3 and p.dynamic and "d1-3" in p.engine_key
    assert "--optShapes=images:3x3x640x640" in p.trtexec_argv
    app = keyfile(p.rendered[1].content)
    assert app["streammux"]["batch-size"] == "3" and app["streammux"]["live-source"] == "1"
    assert keyfile(p.rendered[0].content)["property"]["batch-size"] == "3"


def test_precision_option_beats_host_vars_beats_release():
    f = {"nx1": XAVIER}
    host_fp32 = {"nx1": {"y7_sources": CAMERA, "y7_precision": "fp32"}}
    assert plan_push(manifest(), files(), f, host_fp32, OPTS).hosts["nx1"].precision == "fp32"
    forced = PushOptions(parser_sha=SHA_SRC, precision="fp16")
    assert plan_push(manifest(), files(), f, host_fp32, forced).hosts["nx1"].precision == "fp16"
    assert plan_push(manifest(precision="fp32"), files(), f, {"nx1": {"y7_sources": CAMERA}},
                     OPTS).hosts["nx1"].precision == "fp32"


def test_int8_with_a_table_on_xavier():
    calib = {"calib.table": {"path": "/rel/calib.table", "sha256": "11" * 32, "size": 4000}}
    plan = plan_push(manifest(), files(extra=calib), {"nx1": XAVIER}, {"nx1": {"y7_sources": CAMERA}},
                     PushOptions(parser_sha=SHA_SRC, precision="int8"))
    p = plan.hosts["nx1"]
    assert "--int8" in p.trtexec_argv and "--calib=/opt/y7deploy/releases/yolov7-tiny-2/calib.table" in p.trtexec_argv
    infer = keyfile(p.rendered[0].content)["property"]
    assert infer["network-mode"] == "1" and infer["int8-calib-file"] == "/opt/y7deploy/releases/yolov7-tiny-2/calib.table"


# --- refusals -------------------------------------------------------------------------------


def refusals(plan) -> dict[str, str]:
    return {h: r for h, r in plan.refusals}


def test_too_little_disk_is_refused_with_the_figures():
    # need = ceil((25 MiB + 19 B + 1500 B) [bundle] + 25 MiB [engine, as large as the ONNX]) + 64 reserve
    #      = 51 + 64 = 115 MB
    small = dict(XAVIER, disk_free_opt_mb=114)
    enough = dict(XAVIER, disk_free_opt_mb=115)
    plan = plan_push(manifest(), files(), {"tight": small, "fine": enough},
                     {"tight": {"y7_sources": CAMERA}, "fine": {"y7_sources": CAMERA}}, OPTS)
    assert not plan.ok and list(refusals(plan)) == ["tight"]
    assert "114 MB free, 115 MB needed" in refusals(plan)["tight"]


def test_what_the_device_already_holds_needs_no_disk_again():
    first = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": CAMERA}}, OPTS)
    key = first.hosts["nx1"].engine_key
    tight = dict(XAVIER, disk_free_opt_mb=64)  # the reserve alone
    v = {"nx1": {"y7_sources": CAMERA}}
    assert not plan_push(manifest(), files(), {"nx1": tight}, v, OPTS).ok
    held = {"nx1": {"releases": ["yolov7-tiny-1", "yolov7-tiny-2"], "engines": [key]}}
    again = plan_push(manifest(), files(), {"nx1": tight}, v, OPTS, on_device=held)
    assert again.ok and again.hosts["nx1"].need_mb == 64
    only_release = {"nx1": {"releases": ["yolov7-tiny-2"], "engines": []}}
    assert plan_push(manifest(), files(), {"nx1": tight}, v, OPTS, on_device=only_release).refusals == [
        ("nx1", "too little free disk on /opt: 64 MB free, 89 MB needed (release 0 MB + engine 25 MB + reserve 64 MB)")]


def test_an_opset_the_parser_does_not_document_is_refused():
    f, v = fleet(nano1=NANO, nx1=XAVIER, orin1=ORIN_NANO)
    plan = plan_push(manifest(opset=17), files(), f, v, OPTS)
    assert list(refusals(plan)) == ["nano1"]
    assert "opset 17" in refusals(plan)["nano1"] and "8.2.1.9" in refusals(plan)["nano1"]
    plan = plan_push(manifest(opset=18), files(), f, v, OPTS)
    assert sorted(refusals(plan)) == ["nano1", "nx1"]


def test_dynamic_batch_on_deepstream_6_0_is_refused():
    f, v = fleet(nano1=NANO, nx1=XAVIER)
    plan = plan_push(manifest(batch=None, dynamic_batch=True), files(), f, v, OPTS)
    assert list(refusals(plan)) == ["nano1"] and "DeepStream 6.1" in refusals(plan)["nano1"]


def test_int8_on_a_nano_is_refused():
    calib = {"calib.table": {"path": "/rel/calib.table", "sha256": "11" * 32, "size": 4000}}
    f, v = fleet(nano1=NANO, nx1=XAVIER)
    plan = plan_push(manifest(), files(extra=calib), f, v, PushOptions(parser_sha=SHA_SRC, precision="int8"))
    assert list(refusals(plan)) == ["nano1"] and "fast INT8" in refusals(plan)["nano1"]


def test_int8_without_a_calibration_table_is_refused():
    plan = plan_push(manifest(), files(), {"nx1": XAVIER}, {"nx1": {"y7_sources": CAMERA}},
                     PushOptions(parser_sha=SHA_SRC, precision="int8"))
    assert "calibration table" in refusals(plan)["nx1"]


def test_class_count_must_match_the_labels():
    f, v = fleet(nx1=XAVIER, nx2=XAVIER)
    plan = plan_push(manifest(nc=4), files(), f, v, OPTS)
    assert sorted(refusals(plan)) == ["nx1", "nx2"] and "nc=4 but 3 labels" in refusals(plan)["nx1"]


def test_unreachable_host_and_missing_cameras_are_refused():
    plan = plan_push(manifest(), files(), {"gone": None, "nx1": XAVIER},
                     {"gone": {"y7_sources": CAMERA}, "nx1": {}}, OPTS)
    assert "no facts" in refusals(plan)["gone"] and "y7_sources" in refusals(plan)["nx1"]


def test_unknown_source_and_sink_are_refused():
    v = {"nx1": {"y7_sources": ["ftp://x/y.mp4"], "y7_sinks": [{"type": "mqtt"}]}}
    reasons = [r for _, r in plan_push(manifest(), files(), {"nx1": XAVIER}, v, OPTS).refusals]
    assert any("ftp://x/y.mp4" in r for r in reasons) and any("'mqtt'" in r for r in reasons)


# --- secrets --------------------------------------------------------------------------------


def test_camera_credentials_are_escaped_into_the_uri():
    v = {"nx1": {"y7_sources": [{"uri": "rtsp://10.1.1.5:554/ch1", "username": "ops@site", "password": "p/w:@ %"}]}}
    p = plan_push(manifest(), files(), {"nx1": XAVIER}, v, OPTS).hosts["nx1"]
    uri = keyfile(p.rendered[1].content)["source0"]["uri"]
    assert uri == "rtsp://ops%40site:p%2Fw%3A%40%20%25@10.1.1.5:554/ch1"  # RFC 3986 userinfo, by hand
    assert {"p/w:@ %", "p%2Fw%3A%40%20%25"} <= set(p.secrets)  # masked in either form


def test_broker_and_camera_secrets_go_to_0600_files_and_never_into_json_or_repr():
    v = {"nx1": {"y7_sources": [{"uri": "rtsp://cam1.site-b/stream1", "username": "viewer",
                                 "password": "cam-pass-771"}],
                 "y7_sinks": [{"type": "fake"}, {"type": "kafka", "broker": "kafka.site-b:9093", "topic": "dets",
                                                  "sasl_username": "edge", "sasl_password": "kafka-pass-552"}]}}
    plan = plan_push(manifest(), files(), {"nx1": XAVIER}, v, OPTS)
    p = plan.hosts["nx1"]
    rendered = {r.name: r for r in p.rendered}
    broker = rendered["message_broker_config.txt"]
    assert broker.secret and broker.mode == "0600" and "sasl.password=kafka-pass-552" in broker.content
    app = keyfile(rendered["deepstream_app_config.txt"].content)
    assert app["sink1"]["type"] == "6" and app["sink1"]["msg-broker-conn-str"] == "kafka.site-b;9093"
    assert app["sink1"]["msg-broker-config"] == "/opt/y7deploy/releases/yolov7-tiny-2/message_broker_config.txt"
    assert "kafka-pass-552" not in rendered["deepstream_app_config.txt"].content
    assert rendered["deepstream_app_config.txt"].secret  # the camera's password is in its URI
    assert set(p.secrets) == {"cam-pass-771", "kafka-pass-552"}
    shown = plan_json(plan) + repr(plan)
    assert "kafka-pass-552" not in shown and "cam-pass-771" not in shown


# --- waves and the failure threshold, against ansible-playbook ------------------------------

SERIALS = [[1, "25%", "100%"], [2], ["30%"], [1, 3]]
REST = [6, 11]  # hosts left after the canaries
# (failed in the first batch, batch size, max_fail_percentage). A play that stops ends the
# whole playbook, so each case a hand count says stops runs in a playbook of its own.
GOES_ON = [(1, 4, 25), (2, 4, 50), (0, 4, 0), (3, 4, 75)]
STOPS = [(1, 4, 24), (1, 4, 0), (4, 4, 100)]
FAIL_CASES = GOES_ON + STOPS


def _record(tmp: Path, label: str) -> str:
    return f"echo '{label} {{{{ ansible_play_batch | join(\",\") }}}}' >> {tmp / 'out.txt'}"


def _wave_plays(tmp: Path) -> list[dict]:
    plays = []
    for si, serial in enumerate(SERIALS):
        for n in REST:
            hosts = ",".join(f"w{si}n{n}h{i:02d}" for i in range(n))
            plays.append({"name": f"waves {si} {n}", "hosts": hosts, "gather_facts": False, "serial": serial,
                          "tasks": [{"ansible.builtin.shell": _record(tmp, f"waves {si} {n}"), "run_once": True}]})
    return plays


def _fail_play(tmp: Path, ci: int) -> dict:
    failed, total, pct = FAIL_CASES[ci]
    hosts = [f"f{ci}h{i}" for i in range(total * 2)]  # two batches of `total`
    return {"name": f"fail {ci}", "hosts": ",".join(hosts), "gather_facts": False, "serial": total,
            "max_fail_percentage": pct,
            "tasks": [{"ansible.builtin.fail": {"msg": "down"}, "when": f"inventory_hostname in {hosts[:failed]!r}"},
                      {"ansible.builtin.shell": _record(tmp, f"fail {ci}"), "run_once": True}]}


@pytest.fixture(scope="module")
def ansible_answers(tmp_path_factory):
    """ansible-playbook (local connection) recording each batch it ran: one playbook with
    the wave plays and the cases that go on, one per case that stops, run side by side."""
    tmp = tmp_path_factory.mktemp("ansible")
    books = [_wave_plays(tmp) + [_fail_play(tmp, FAIL_CASES.index(c)) for c in GOES_ON]]
    books += [[_fail_play(tmp, FAIL_CASES.index(c))] for c in STOPS]
    names = sorted({h for book in books for play in book for h in play["hosts"].split(",")})
    (tmp / "inv.yml").write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "hosts": {h: None for h in names}}}))
    runner = Path(sys.executable).parent / "ansible-playbook"
    procs = []
    for i, book in enumerate(books):
        (tmp / f"pb{i}.yml").write_text(json.dumps(book))
        procs.append(subprocess.Popen([str(runner), "-i", str(tmp / "inv.yml"), str(tmp / f"pb{i}.yml")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp))
    for proc in procs:
        proc.wait(timeout=600)
    answers: dict[str, list[list[str]]] = {}
    for line in (tmp / "out.txt").read_text().splitlines():
        label, _, batch = line.rpartition(" ")
        answers.setdefault(label, []).append(batch.split(","))
    return answers


@pytest.mark.slow
@pytest.mark.parametrize("serial", SERIALS, ids=str)
@pytest.mark.parametrize("n", REST)
def test_waves_after_the_canaries_are_ansibles_batches(ansible_answers, serial, n):
    si = SERIALS.index(serial)
    rest = [f"w{si}n{n}h{i:02d}" for i in range(n)]
    classes = {"nano": ["canary-a"], "nx": ["canary-b", *rest]}
    got = waves(classes, ["canary-a", "canary-b", *rest], ",".join(map(str, serial)))
    assert got[0] == ["canary-a", "canary-b"]
    assert got[1:] == ansible_answers[f"waves {si} {n}"]


@pytest.mark.slow
@pytest.mark.parametrize("case", range(len(FAIL_CASES)), ids=lambda i: "%d of %d at %d%%" % FAIL_CASES[i])
def test_max_fail_is_ansibles_exceeded_not_equalled(ansible_answers, case):
    """Ansible went on to the second batch exactly when max_fail_exceeded says it must not stop."""
    failed, total, pct = FAIL_CASES[case]
    batches_run = len(ansible_answers.get(f"fail {case}", []))
    assert batches_run in (0, 2)  # a stopping play runs no task after the failure
    assert max_fail_exceeded(failed, total, pct) == (batches_run == 0)


def test_canary_group_members_are_preferred_as_canaries():
    f = {"nx1": XAVIER, "nx2": XAVIER, "nx3": XAVIER}
    v = {"nx1": {"y7_sources": CAMERA}, "nx2": {"y7_sources": CAMERA, "group_names": ["canary", "orin"]},
         "nx3": {"y7_sources": CAMERA}}
    plan = plan_push(manifest(), files(), f, v, OPTS)
    assert plan.waves("1,100%") == [["nx2"], ["nx1"], ["nx3"]]


def test_parser_build_with_opencv_and_a_deepstream_the_table_lacks():
    v = {"nx1": {"y7_sources": CAMERA, "deepstream_yolo_opencv": True}}
    p = plan_push(manifest(), files(), {"nx1": XAVIER}, v, OPTS).hosts["nx1"]
    assert p.parser_lib == f"/opt/y7deploy/lib/{SHA_SRC}-cuda11.4-opencv/libnvdsinfer_custom_impl_Yolo.so"
    odd = dict(XAVIER, deepstream="6.2.9")
    plan = plan_push(manifest(), files(), {"nx1": odd}, {"nx1": {"y7_sources": CAMERA}}, OPTS)
    assert "DeepStream 6.2.9: no CUDA_VER" in refusals(plan)["nx1"]


def test_encoding_sinks_use_software_encoding_on_the_orin_nano():
    sinks = [{"type": "rtsp", "port": 8554}, {"type": "file", "path": "/var/lib/y7/out.mp4"}]
    f, _ = fleet(nx1=XAVIER, orin1=ORIN_NANO)
    v = {h: {"y7_sources": CAMERA, "y7_sinks": sinks} for h in f}
    plan = plan_push(manifest(), files(), f, v, OPTS)
    for host, enc in (("nx1", "0"), ("orin1", "1")):
        app = keyfile(plan.hosts[host].rendered[1].content)
        assert app["sink0"]["type"] == "4" and app["sink0"]["rtsp-port"] == "8554" and app["sink0"]["enc-type"] == enc
        assert app["sink1"]["type"] == "3" and app["sink1"]["output-file"] == "/var/lib/y7/out.mp4"
        assert app["sink1"]["enc-type"] == enc and app["osd"]["enable"] == "1"


def test_waves_by_hand():
    # 3 canaries, 7 others: serial 1 -> 1 host; 25% of 7 = 1.75 -> 1 (rounded down); 100% -> the 5 left
    classes = {"a": ["a1", "a2", "a3"], "b": ["b1", "b2", "b3", "b4"], "c": ["c1", "c2", "c3"]}
    hosts = ["a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3", "b4"]
    assert waves(classes, hosts) == [["a1", "b1", "c1"], ["a2"], ["b2"], ["c2", "a3", "b3", "c3", "b4"]]
    assert waves(classes, hosts, "100%") == [["a1", "b1", "c1"], ["a2", "b2", "c2", "a3", "b3", "c3", "b4"]]
    assert waves(classes, hosts, "2", canaries=["b3"]) == [["a1", "c1", "b3"], ["b1", "a2"], ["b2", "c2"],
                                                           ["a3", "c3"], ["b4"]]
    with pytest.raises(UserError, match="'quarter'"):
        waves(classes, hosts, "1,quarter")


def test_max_fail_by_hand():
    assert not max_fail_exceeded(0, 3, 0)
    assert max_fail_exceeded(1, 3, 0)
    assert not max_fail_exceeded(1, 4, 25) and max_fail_exceeded(2, 4, 25)
    assert max_fail_exceeded(3, 3, 100)  # a wave where every host failed stops in any case

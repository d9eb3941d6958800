"""The stand-ins fail where a real Jetson fails: one test per row of the fidelity table in
y7deploy/lab/README.md, run inside lab hosts (TensorRT 8.2/8.5/10.3, DeepStream 6.0.1/6.3/7.1)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
from concurrent.futures import ThreadPoolExecutor

import pytest

import lab_kit as kit

pytestmark = pytest.mark.lab
WORK = "/opt/y7deploy/fidelity"
PARSER = f"{WORK}/DeepStream-Yolo/nvdsinfer_custom_impl_Yolo"
LIB = f"{PARSER}/libnvdsinfer_custom_impl_Yolo.so"
DYN = "--minShapes=images:1x3x32x32 --optShapes=images:2x3x32x32 --maxShapes=images:4x3x32x32"


@pytest.fixture(scope="module")
def hosts(lab):
    """profile -> host name, with models and the fixture parser built on every host."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(lab.deepstream_yolo_src), arcname="DeepStream-Yolo")

    def prepare(h):
        lab.root(h.name, f"rm -rf {WORK}; mkdir -p {WORK}")
        lab.put(h.name, f"{WORK}/static.onnx", kit.tiny_onnx(1))
        lab.put(h.name, f"{WORK}/dyn.onnx", kit.tiny_onnx("batch"))
        lab.put(h.name, f"{WORK}/labels.txt", "person\ncar\n")
        lab.put(h.name, f"{WORK}/src.tar", buf.getvalue())
        cuda = lab.root(h.name, "readlink -f /usr/local/cuda").stdout.strip().rsplit("-", 1)[1]
        built = lab.root(h.name, f"cd {WORK} && tar xf src.tar && make -C {PARSER} CUDA_VER={cuda}")
        assert built.returncode == 0, built.stderr
        lab.root(h.name, f"chown -R jetson: {WORK}")

    with ThreadPoolExecutor(len(lab.hosts)) as pool:
        list(pool.map(prepare, lab.hosts))
    yield {h.profile: h.name for h in lab.hosts}
    for h in lab.hosts:
        lab.root(h.name, f"rm -rf {WORK}; : > {kit.DS_LOG}")


def trtexec(lab, host, args):
    return kit.trtexec(lab, host, WORK, args)


def configure(lab, host, *, app=None, infer=None, directory=WORK):
    lab.put(host, f"{directory}/app.txt", app or kit.app_config(), owner="jetson")
    lab.put(host, f"{directory}/config_infer_primary.txt", infer or kit.infer_config(), owner="jetson")


# --- trtexec: options per release (samples/common/sampleOptions.cpp of each branch) ------------


@pytest.mark.parametrize("flag, accepted_by", [
    ("--explicitBatch", {"nano-jp461", "xavier-nx-jp513"}),
    ("--skipInference", {"agx-orin-jp62"}),
    ("--buildOnly", {"nano-jp461", "xavier-nx-jp513"}),
    ("--layerPrecisions=*:fp16", {"xavier-nx-jp513", "agx-orin-jp62"}),
    ("--workspace=64", {"nano-jp461", "xavier-nx-jp513"}),
    ("--memPoolSize=workspace:64", {"xavier-nx-jp513", "agx-orin-jp62"}),
    ("--builderOptimizationLevel=3", {"agx-orin-jp62"}),
    ("--tacticSharedMem=1", set()),
    ("--precisionConstraints=none", {"nano-jp461", "xavier-nx-jp513", "agx-orin-jp62"}),
    ("--dumpLayerInfo", {"nano-jp461", "xavier-nx-jp513", "agx-orin-jp62"}),
    ("--loadInputs=images:in.bin", {"nano-jp461", "xavier-nx-jp513", "agx-orin-jp62"}),
    ("--bf16", {"agx-orin-jp62"}),
    ("--fp8", {"agx-orin-jp62"}),
    ("--profile=0", {"agx-orin-jp62"}),
])
def test_trtexec_takes_the_options_of_its_release(lab, hosts, flag, accepted_by):
    for profile in ("nano-jp461", "xavier-nx-jp513", "agx-orin-jp62"):
        proc = trtexec(lab, hosts[profile], f"--onnx=static.onnx {flag}")
        name, _, value = flag.partition("=")
        if profile in accepted_by:
            assert "Unknown option" not in proc.stdout, (profile, proc.stdout)
        else:
            assert proc.returncode == 1, (profile, flag)
            assert f"[E] Unknown option: {name} {value}".rstrip() in proc.stdout, (profile, proc.stdout)
            assert "&&&& FAILED TensorRT.trtexec" in proc.stdout


def test_trtexec_deprecation_warnings_are_its_releases(lab, hosts):
    nano, xavier = hosts["nano-jp461"], hosts["xavier-nx-jp513"]
    for host in (nano, xavier):
        warned = trtexec(lab, host, "--onnx=static.onnx --explicitBatch")
        assert warned.returncode == 0
        assert "[W] --explicitBatch flag has been deprecated and has no effect!" in warned.stdout
    quiet = trtexec(lab, xavier, "--onnx=static.onnx --buildOnly")
    assert quiet.returncode == 0 and "deprecated" not in quiet.stdout  # 8.5 has no such warning
    assert "deprecated" not in trtexec(lab, nano, "--onnx=static.onnx --workspace=64").stdout
    assert "--workspace flag has been deprecated by --memPoolSize flag." in \
        trtexec(lab, xavier, "--onnx=static.onnx --workspace=64").stdout


def test_trtexec_help_exits_0_without_a_verdict(lab, hosts):
    for host in hosts.values():
        helped = trtexec(lab, host, "--help")
        assert helped.returncode == 0 and "&&&& PASSED" not in helped.stdout
        bare = trtexec(lab, host, "")
        assert bare.returncode == 0 and "&&&& PASSED" in bare.stdout


# --- shapes, DLA ---------------------------------------------------------------------------


def test_shape_flags_on_a_static_model_fail(lab, hosts):
    for profile in ("nano-jp461", "xavier-nx-jp513", "agx-orin-jp62"):
        proc = trtexec(lab, hosts[profile], "--onnx=static.onnx --optShapes=images:1x3x32x32 --saveEngine=s.engine")
        assert proc.returncode == 1, profile
        assert ("[E] Static model does not take explicit shapes since the shape of inference tensors "
                "will be determined by the model itself") in proc.stdout
        assert lab.root(hosts[profile], f"test -e {WORK}/s.engine").returncode != 0


def test_opt_shapes_alone_and_partial_profiles(lab, hosts):
    nano, agx = hosts["nano-jp461"], hosts["agx-orin-jp62"]
    alone = trtexec(lab, nano, "--onnx=dyn.onnx --optShapes=images:2x3x32x32 --saveEngine=o.engine")
    assert alone.returncode == 0, alone.stdout
    assert json.loads(lab.get(nano, f"{WORK}/o.engine").split(b"\n")[1])["batch"] == {"min": 2, "opt": 2, "max": 2}
    two = "--minShapes=images:1x3x32x32 --optShapes=images:2x3x32x32"
    partial = trtexec(lab, nano, f"--onnx=dyn.onnx {two}")
    assert partial.returncode == 1
    assert "Must specify only --optShapes or all of --minShapes, --optShapes, --maxShapes" in partial.stdout
    assert trtexec(lab, agx, f"--onnx=dyn.onnx {two}").returncode == 0  # 10.x fills the missing one


@pytest.mark.parametrize("profile, cores", [("nano-jp461", 0), ("xavier-nx-jp513", 2),
                                            ("orin-nano-jp61", 0), ("agx-orin-jp62", 2)])
def test_dla_cores_per_module(lab, hosts, profile, cores):
    host = hosts[profile]
    for core in range(cores + 1):
        proc = trtexec(lab, host, f"--onnx=static.onnx --fp16 --useDLACore={core} --allowGPUFallback")
        if core < cores:
            assert proc.returncode == 0, proc.stdout
        else:
            assert proc.returncode == 1
            assert f"Cannot create DLA engine, {core} not available" in proc.stdout


# --- plans -----------------------------------------------------------------------------------


def plan_of(lab, host, name, **changes) -> bytes:
    """The plan trtexec wrote on host, its header changed as given."""
    raw = lab.get(host, f"{WORK}/{name}")
    magic, header, rest = raw.split(b"\n", 2)
    fields = json.loads(header) | changes
    return magic + b"\n" + json.dumps(fields, sort_keys=True).encode() + b"\n" + rest


def test_plan_header_records_the_gpu_model(lab, hosts):
    host = hosts["orin-nano-jp61"]
    assert trtexec(lab, host, "--onnx=static.onnx --saveEngine=m.engine").returncode == 0
    header = json.loads(lab.get(host, f"{WORK}/m.engine").split(b"\n")[1])
    model = lab.root(host, "tr -d '\\0' < /sys/firmware/devicetree/base/model").stdout
    assert header["model"] == model and header["compute"] == "8.7" and header["tensorrt"] == "10.3.0.30"


def test_plans_of_another_series_build_or_model(lab, hosts):
    nano, xavier = hosts["nano-jp461"], hosts["xavier-nx-jp513"]
    orin, agx = hosts["orin-nano-jp61"], hosts["agx-orin-jp62"]
    assert trtexec(lab, orin, "--onnx=static.onnx --saveEngine=p.engine").returncode == 0
    assert trtexec(lab, xavier, "--onnx=static.onnx --saveEngine=p.engine").returncode == 0
    lab.put(nano, f"{WORK}/series.engine", plan_of(lab, orin, "p.engine"))
    series = trtexec(lab, nano, "--loadEngine=series.engine")
    assert series.returncode == 1
    assert "Serialization assertion stdVersionRead == serializationVersion failed.Version tag does not match" \
        in series.stdout
    lab.put(xavier, f"{WORK}/build.engine", plan_of(lab, xavier, "p.engine", tensorrt="8.5.1.7"))
    build = trtexec(lab, xavier, "--loadEngine=build.engine")
    assert build.returncode == 1
    assert "expecting library version 8.5.2.2 got 8.5.1.7, please rebuild" in build.stdout
    lab.put(agx, f"{WORK}/model.engine", plan_of(lab, orin, "p.engine"))  # same compute 8.7
    other = trtexec(lab, agx, "--loadEngine=model.engine")
    assert other.returncode == 0 and "&&&& PASSED" in other.stdout
    assert "[W] [TRT] Using an engine plan file across different models of devices is not recommended" \
        in other.stdout
    assert kit.trt_calls(lab, agx)[-1]["cross_model"] is True


def test_timing_cache_is_read_written_and_logged(lab, hosts):
    host = hosts["xavier-nx-jp513"]
    lab.root(host, f"rm -f {WORK}/tc.cache")
    first = trtexec(lab, host, "--onnx=static.onnx --fp16 --timingCacheFile=tc.cache")
    assert first.returncode == 0
    assert "Could not read timing cache from: tc.cache. A new timing cache will be generated and written." \
        in first.stdout
    saved = re.search(r"Saved (\d+) bytes of timing cache to tc.cache", first.stdout)
    assert saved and int(lab.root(host, f"stat -c %s {WORK}/tc.cache").stdout) == int(saved.group(1))
    second = trtexec(lab, host, "--onnx=static.onnx --fp16 --timingCacheFile=tc.cache")
    assert f"Loaded {saved.group(1)} bytes of timing cache from tc.cache" in second.stdout
    calls = kit.trt_calls(lab, host)[-2:]
    assert [c["timing_cache"]["hit"] for c in calls] == [False, True]
    assert calls[1]["argv"] == ["--onnx=static.onnx", "--fp16", "--timingCacheFile=tc.cache"]


def test_trtexec_int8_on_a_gpu_without_fast_int8(lab, hosts):
    """trtexec itself asks nothing (sampleEngines.cpp sets kINT8); the builder finds no INT8
    kernels on compute 5.3, so the plan runs at FP32 speed."""
    nano = hosts["nano-jp461"]
    proc = trtexec(lab, nano, "--onnx=static.onnx --int8 --saveEngine=i8.engine")
    assert proc.returncode == 0
    assert "FP32 and INT8 precisions have been specified" in proc.stdout
    header = json.loads(lab.get(nano, f"{WORK}/i8.engine").split(b"\n")[1])
    assert header["precision"] == "int8" and header["int8_kernels"] is False
    assert trtexec(lab, nano, "--onnx=static.onnx --saveEngine=f32.engine").returncode == 0
    fps = {}
    for engine in ("i8.engine", "f32.engine"):
        configure(lab, nano, infer=kit.infer_config(engine=engine, mode=1, parse="x"))
        run = kit.run_app(lab, nano, WORK, "app.txt")
        assert run.returncode == 0 and "engine-loaded" in run.names(), run.output
        fps[engine] = run.first("running")["fps"]
    assert fps["i8.engine"] == fps["f32.engine"]  # no INT8 bonus for an INT8 that didn't happen


# --- nvinfer (DeepStream 6.0.1, 6.3, 7.1) ------------------------------------------------------


@pytest.mark.parametrize("profile", ["nano-jp461", "agx-orin-jp62"])
def test_rebuilt_engine_goes_to_the_working_dir_with_an_engine_create_function(lab, hosts, profile):
    host = hosts[profile]
    lab.root(host, f"rm -f {WORK}/model_b1_gpu0_*.engine {WORK}/*.onnx_b*")
    extra = f"custom-lib-path={LIB}\nengine-create-func-name=NvDsInferYoloCudaEngineGet\n"
    configure(lab, host, infer=kit.infer_config(engine="missing.engine", extra=extra))
    run = kit.run_app(lab, host, WORK, "app.txt", user="jetson")
    assert run.returncode == 0, run.output
    assert run.first("engine-rebuild")["written"] == f"{WORK}/model_b1_gpu0_fp16.engine"
    assert f"serialize cuda engine to file: {WORK}/model_b1_gpu0_fp16.engine successfully" in run.output


@pytest.mark.parametrize("profile", ["nano-jp461", "xavier-nx-jp513"])
def test_rebuilt_engine_goes_beside_the_onnx_without_one(lab, hosts, profile):
    host = hosts[profile]
    lab.root(host, f"mkdir -p {WORK}/run && chown jetson: {WORK}/run && rm -f {WORK}/*.onnx_b*")
    configure(lab, host, infer=kit.infer_config(engine="missing.engine", onnx=f"{WORK}/static.onnx",
                                                extra=f"custom-lib-path={LIB}\n"))
    run = kit.run_app(lab, host, f"{WORK}/run", f"{WORK}/app.txt", user="jetson")
    assert run.returncode == 0, run.output
    assert run.first("engine-rebuild")["written"] == f"{WORK}/static.onnx_b1_gpu0_fp16.engine"
    assert lab.root(host, f"ls {WORK}/run").stdout == ""


def test_an_unwritable_engine_dir_means_a_rebuild_at_every_start(lab, hosts):
    host = hosts["xavier-nx-jp513"]
    ro = f"{WORK}/ro"
    lab.root(host, f"rm -rf {ro} && mkdir -p {ro} && cp {WORK}/static.onnx {ro}/ && chmod 555 {ro}")
    configure(lab, host, infer=kit.infer_config(engine="missing.engine", onnx=f"{ro}/static.onnx"))
    for _ in range(2):
        run = kit.run_app(lab, host, WORK, "app.txt", user="jetson")
        assert run.returncode == 0
        assert run.first("engine-rebuild")["written"] is None
        assert f"failed to serialize cude engine to file: {ro}/static.onnx_b1_gpu0_fp16.engine" in run.output
    assert lab.root(host, f"ls {ro}").stdout.split() == ["static.onnx"]


def test_int8_falls_back_to_fp16_with_nvinfers_words(lab, hosts):
    nano, xavier = hosts["nano-jp461"], hosts["xavier-nx-jp513"]
    extra = "int8-calib-file=calib.table\n"
    lab.root(nano, f"touch {WORK}/calib.table; rm -f {WORK}/static.onnx_b*")
    configure(lab, nano, infer=kit.infer_config(engine="model_b1_gpu0_int8.engine", mode=1, extra=extra))
    run = kit.run_app(lab, nano, WORK, "app.txt", user="jetson")
    assert "INT8 not supported by platform. Trying FP16 mode." in run.output
    assert run.first("engine-rebuild")["written"] == f"{WORK}/static.onnx_b1_gpu0_fp16.engine"
    again = kit.run_app(lab, nano, WORK, "app.txt", user="jetson")
    assert "engine-rebuild" in again.names()  # the config names an _int8 engine that never exists
    lab.root(xavier, f"rm -f {WORK}/calib.table {WORK}/static.onnx_b*")
    configure(lab, xavier, infer=kit.infer_config(engine="missing.engine", mode=1, extra=extra))
    run = kit.run_app(lab, xavier, WORK, "app.txt", user="jetson")
    assert "INT8 calibration file not specified. Trying FP16 mode." in run.output
    assert run.first("engine-rebuild")["precision"] == "fp16"
    lab.root(xavier, f"touch {WORK}/calib.table")
    run = kit.run_app(lab, xavier, WORK, "app.txt", user="jetson")
    assert run.first("engine-rebuild")["written"] == f"{WORK}/static.onnx_b1_gpu0_int8.engine"


def test_custom_lib_is_loaded_and_its_functions_looked_up(lab, hosts):
    host = hosts["orin-nano-jp61"]
    trtexec(lab, host, "--onnx=static.onnx --fp16 --saveEngine=ok.engine")
    configure(lab, host, infer=kit.infer_config(engine="ok.engine", extra=f"custom-lib-path={LIB}\n"))
    ok = kit.run_app(lab, host, WORK, "app.txt")
    assert ok.returncode == 0 and "custom-lib-loaded" in ok.names()
    configure(lab, host, infer=kit.infer_config(engine="ok.engine", parse="NvDsInferParseYoloE",
                                                extra=f"custom-lib-path={LIB}\n"))
    missing = kit.run_app(lab, host, WORK, "app.txt")
    assert missing.returncode == 255
    assert "Could not find parse func 'NvDsInferParseYoloE' in custom library" in missing.output
    lab.put(host, f"{WORK}/notelf.so", "not a library\n" * 64)
    configure(lab, host, infer=kit.infer_config(engine="ok.engine", extra=f"custom-lib-path={WORK}/notelf.so\n"))
    bad = kit.run_app(lab, host, WORK, "app.txt")
    assert bad.returncode == 255 and f"Could not open lib: {WORK}/notelf.so" in bad.output
    assert "invalid ELF header" in bad.output  # dlerror's words, from a real dlopen
    extra = f"custom-lib-path={LIB}\nengine-create-func-name=NvDsInferNoSuchEngineGet\n"
    configure(lab, host, infer=kit.infer_config(engine="gone.engine", extra=extra))
    nocreate = kit.run_app(lab, host, WORK, "app.txt")
    assert nocreate.returncode == 255 and "NvDsInferNoSuchEngineGet" in nocreate.output


def test_no_startup_check_of_classes_against_labels(lab, hosts):
    host = hosts["xavier-nx-jp513"]
    trtexec(lab, host, "--onnx=static.onnx --fp16 --saveEngine=c.engine")
    configure(lab, host, infer=kit.infer_config(engine="c.engine", classes=80))  # labels.txt has 2
    run = kit.run_app(lab, host, WORK, "app.txt")
    assert run.returncode == 0 and "perf-started" in run.names()


# --- deepstream-app ----------------------------------------------------------------------------


def test_file_source_ends_with_file_loop_0(lab, hosts):
    host = hosts["agx-orin-jp62"]
    trtexec(lab, host, "--onnx=static.onnx --fp16 --saveEngine=e.engine")
    configure(lab, host, app=kit.app_config(file_loop=0), infer=kit.infer_config(engine="e.engine"))
    lab.put(host, "/etc/y7deploy-lab/stream-seconds", "2\n")
    try:
        run = kit.run_app(lab, host, WORK, "app.txt", until=("exit",), signal=None)
    finally:
        lab.root(host, "rm -f /etc/y7deploy-lab/stream-seconds")
    assert run.returncode == 0 and "App run successful" in run.output
    assert run.names()[-2:] == ["eos", "exit"]


def test_sigint_stops_cleanly_sigterm_kills_failures_exit_255(lab, hosts):
    host = hosts["agx-orin-jp62"]
    configure(lab, host, app=kit.app_config(gie=0))
    stopped = kit.run_app(lab, host, WORK, "app.txt", signal="INT")
    assert stopped.returncode == 0 and "App run successful" in stopped.output
    killed = kit.run_app(lab, host, WORK, "app.txt", signal="TERM")
    assert killed.returncode == 128 + 15 and "App run successful" not in killed.output
    configure(lab, host, app=kit.app_config(uri="file:///nowhere.mp4", gie=0))
    failed = kit.run_app(lab, host, WORK, "app.txt", until=("exit",), signal=None)
    assert failed.returncode == 255 and "App run failed" in failed.output


def test_perf_header_repeats_every_20_rows(lab, hosts):
    host = hosts["orin-nano-jp61"]
    configure(lab, host, app=kit.app_config(gie=0, interval=0.02))
    tag = kit.start_app(lab, host, WORK, "app.txt")
    kit.wait_for(lambda: len(re.findall(r"^\*\*PERF:  \d", lab.root(host, f"cat {tag}.out").stdout, re.M)) >= 45,
                 "45 **PERF rows")
    run = kit.finish_app(lab, host, tag)
    lines = [line for line in run.output.splitlines() if line.startswith("**PERF:")]
    headers = [i for i, line in enumerate(lines) if "FPS 0 (Avg)" in line]
    assert headers[:3] == [0, 21, 42]


@pytest.mark.parametrize("profile, version", [("nano-jp461", "6.0.1"), ("xavier-nx-jp513", "6.3.0"),
                                              ("agx-orin-jp62", "7.1.0")])
def test_version_has_three_parts(lab, hosts, profile, version):
    out = subprocess.run(lab.ssh_command(hosts[profile], "deepstream-app -v"), capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.splitlines()[0] == f"deepstream-app version {version}"


def sink6(conn: str, proto: str = "/opt/nvidia/deepstream/deepstream/lib/libnvds_kafka_proto.so",
          topic: str = "detections") -> str:
    return (kit.app_config(gie=0) + f"\n[sink1]\nenable=1\ntype=6\nmsg-conv-config=msgconv.txt\n"
            f"msg-conv-payload-type=0\nmsg-broker-proto-lib={proto}\nmsg-broker-conn-str={conn}\n"
            + (f"topic={topic}\n" if topic else ""))


def test_sink_type_6_keys_are_checked(lab, hosts):
    host = hosts["xavier-nx-jp513"]
    lab.put(host, f"{WORK}/msgconv.txt", "[sensor0]\nenable=1\n", owner="jetson")
    configure(lab, host, app=sink6("broker.lan;9092"))
    ok = kit.run_app(lab, host, WORK, "app.txt")
    assert ok.returncode == 0, ok.output
    for app, words in ((sink6("broker.lan:9092"), "broker.lan:9092"),
                       (sink6("broker.lan;9092", proto="/opt/nvidia/deepstream/deepstream/lib/libnvds_nope.so"),
                        "libnvds_nope.so"),
                       (sink6("broker.lan;9092").replace("msgconv.txt", "gone.txt"), "gone.txt")):
        configure(lab, host, app=app)
        bad = kit.run_app(lab, host, WORK, "app.txt", until=("exit",), signal=None)
        assert bad.returncode == 255 and words in bad.output


def test_rtsp_camera_must_answer(lab, hosts, lab_fault):
    host = hosts["orin-nano-jp61"]
    source = "select-rtp-protocol=4\nrtsp-reconnect-interval-sec=1\n"
    configure(lab, host, app=kit.app_config(uri=lab.camera_uri(host), source_type=4, gie=0,
                                            interval=0.2, source_extra=source))
    live = kit.run_app(lab, host, WORK, "app.txt")
    assert live.returncode == 0 and all(row[0] > 0 for row in live.perf_rows())
    tag = kit.start_app(lab, host, WORK, "app.txt")
    kit.wait_for(lambda: "perf-started" in [e["event"] for e in kit.events(lab, host)], "playing")
    with lab_fault(host, "camera-down"):
        kit.wait_for(lambda: "source-reconnect" in [e["event"] for e in kit.events(lab, host)], "a reconnect")
    kit.wait_for(lambda: "source-reconnected" in [e["event"] for e in kit.events(lab, host)], "the camera back")
    run = kit.finish_app(lab, host, tag)
    assert "No data from source 0 since last" in run.output and "Trying reconnection" in run.output
    assert "Resetting source 0" in run.output
    assert any(row == [0.0] for row in run.perf_rows())  # no frames while the camera was down
    with lab_fault(host, "camera-down"):
        dark = kit.run_app(lab, host, WORK, "app.txt")
    assert "Could not open resource for reading and writing." in dark.output
    assert dark.first("running")["sources_up"] == [False] and dark.perf_rows()[0] == [0.0]

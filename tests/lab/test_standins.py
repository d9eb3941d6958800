"""The NVIDIA stand-ins accept and refuse what the real programs of each version do."""

from __future__ import annotations

import io
import re
import json
import tarfile

import pytest

import lab_kit as kit

pytestmark = pytest.mark.lab
TRTEXEC = "/usr/src/tensorrt/bin/trtexec"
WORK = "/opt/y7deploy/standin-test"
OPSETS = (13, 14, 17, 18, 20, 21)
SHAPES = "--minShapes=images:1x3x32x32 --optShapes=images:2x3x32x32 --maxShapes=images:4x3x32x32"


tiny_onnx = kit.tiny_onnx


@pytest.fixture(scope="module")
def models(lab):
    for h in lab.hosts:
        lab.put(h.name, f"{WORK}/dyn.onnx", tiny_onnx("batch"))
        lab.put(h.name, f"{WORK}/static.onnx", tiny_onnx(1))
        lab.put(h.name, f"{WORK}/notonnx.onnx", b"this is not a protobuf\n")
        for opset in OPSETS:
            lab.put(h.name, f"{WORK}/op{opset}.onnx", tiny_onnx(1, opset))
    yield
    for h in lab.hosts:
        lab.root(h.name, f"rm -rf {WORK}")


def trtexec(lab, host, args):
    return lab.root(host, f"cd {WORK} && {TRTEXEC} {args}")


def builds(lab, host) -> int:
    log = lab.root(host, "cat /var/log/trtexec-standin.log 2>/dev/null").stdout
    return sum(1 for line in log.splitlines() if json.loads(line)["result"] == "built")


def test_workspace_flag_per_tensorrt_version(lab, lab_host, models):
    nano, xavier, orin = (lab_host(p).name for p in ("nano-jp461", "xavier-nx-jp513", "orin-nano-jp61"))
    ok = trtexec(lab, nano, f"--onnx=dyn.onnx --saveEngine=w.engine --workspace=1024 {SHAPES}")
    assert ok.returncode == 0 and "&&&& PASSED TensorRT.trtexec [TensorRT v8201]" in ok.stdout
    deprecated = trtexec(lab, xavier, f"--onnx=dyn.onnx --saveEngine=w.engine --workspace=1024 {SHAPES}")
    assert deprecated.returncode == 0
    assert "--workspace flag has been deprecated by --memPoolSize flag." in deprecated.stdout
    gone = trtexec(lab, orin, f"--onnx=dyn.onnx --saveEngine=w.engine --workspace=1024 {SHAPES}")
    assert gone.returncode == 1
    assert "[E] Unknown option: --workspace 1024" in gone.stdout
    assert "&&&& FAILED TensorRT.trtexec [TensorRT v100300]" in gone.stdout


def test_mempoolsize_flag_per_tensorrt_version(lab, lab_host, models):
    nano, xavier, orin = (lab_host(p).name for p in ("nano-jp461", "xavier-nx-jp513", "orin-nano-jp61"))
    missing = trtexec(lab, nano, "--onnx=static.onnx --memPoolSize=workspace:1024")
    assert missing.returncode == 1 and "Unknown option: --memPoolSize workspace:1024" in missing.stdout
    assert trtexec(lab, xavier, "--onnx=static.onnx --memPoolSize=workspace:1024").returncode == 0
    # A TensorRT 10 size form: 8.5 reads the number and drops the suffix (std::stod).
    suffix = trtexec(lab, xavier, "--onnx=static.onnx --memPoolSize=workspace:2G")
    assert suffix.returncode == 0 and "Memory Pools: workspace: 2 MiB" in suffix.stdout
    assert "Memory Pools: workspace: 2048 MiB" in trtexec(
        lab, orin, "--onnx=static.onnx --memPoolSize=workspace:2G").stdout
    assert "[E] stod" in trtexec(lab, xavier, "--onnx=static.onnx --memPoolSize=workspace:lots").stdout
    assert trtexec(lab, orin, "--onnx=static.onnx --memPoolSize=workspace:2G").returncode == 0
    bad_pool = trtexec(lab, orin, "--onnx=static.onnx --memPoolSize=scratch:1024")
    assert bad_pool.returncode == 1 and "Unknown memory pool: scratch" in bad_pool.stdout


def test_missing_and_non_onnx_models_are_refused(lab, lab_host, models):
    host = lab_host("agx-orin-jp62").name
    gone = trtexec(lab, host, "--onnx=nothere.onnx --saveEngine=x.engine")
    assert gone.returncode == 1 and "Could not open file nothere.onnx" in gone.stdout
    junk = trtexec(lab, host, "--onnx=notonnx.onnx --saveEngine=x.engine")
    assert junk.returncode == 1 and "Failed to parse onnx file" in junk.stdout
    assert lab.root(host, f"test -e {WORK}/x.engine").returncode != 0


def test_onnx_opset_per_tensorrt_version(lab, lab_host, models):
    """Each parser reads up to the opset its onnx-tensorrt release documents: 8.2 -> 13,
    8.5 -> 17, 10.x -> 20; a newer model is refused and no engine is written."""
    for profile, newest in (("nano-jp461", 13), ("xavier-nx-jp513", 17), ("orin-nano-jp61", 20)):
        host = lab_host(profile).name
        for opset in OPSETS:
            lab.root(host, f"rm -f {WORK}/op.engine")
            proc = trtexec(lab, host, f"--onnx=op{opset}.onnx --saveEngine=op.engine")
            assert f"Opset version:    {opset}" in proc.stdout
            written = lab.root(host, f"test -e {WORK}/op.engine").returncode == 0
            if opset <= newest:
                assert proc.returncode == 0 and written, (profile, opset, proc.stdout)
            else:
                assert proc.returncode == 1 and not written, (profile, opset)
                assert f"opset {opset} is newer than this TensorRT's ONNX parser supports " \
                       f"(up to opset {newest})" in proc.stdout
                assert "Failed to parse onnx file" in proc.stdout and "&&&& FAILED" in proc.stdout


def test_int8_without_calib_warns_and_engine_header_records_the_build(lab, lab_host, models):
    host = lab_host("orin-nano-jp61").name
    before = builds(lab, host)
    proc = trtexec(lab, host, f"--onnx=dyn.onnx --int8 --saveEngine=i8.engine {SHAPES}")
    assert proc.returncode == 0
    assert "[W] [TRT] Calibrator is not being used." in proc.stdout
    assert builds(lab, host) == before + 1
    raw = lab.get(host, f"{WORK}/i8.engine")
    header = json.loads(raw.split(b"\n")[1])
    sha = lab.root(host, f"sha256sum {WORK}/dyn.onnx").stdout.split()[0]
    assert header["tensorrt"] == "10.3.0.30" and header["compute"] == "8.7"
    assert header["precision"] == "int8" and header["batch"] == {"min": 1, "opt": 2, "max": 4}
    assert header["onnx_sha256"] == sha


def test_load_engine_refuses_a_plan_of_another_tensorrt_and_takes_its_own(lab, lab_host, models):
    nano, orin, agx = (lab_host(p).name for p in ("nano-jp461", "orin-nano-jp61", "agx-orin-jp62"))
    assert trtexec(lab, orin, "--onnx=static.onnx --saveEngine=plan.engine").returncode == 0
    plan = lab.get(orin, f"{WORK}/plan.engine")
    lab.put(nano, f"{WORK}/plan.engine", plan)
    lab.put(agx, f"{WORK}/plan.engine", plan)  # same TensorRT 10.3, same compute 8.7
    other = trtexec(lab, nano, "--loadEngine=plan.engine")
    assert other.returncode == 1 and "failed.Version tag does not match" in other.stdout
    assert "Engine deserialization failed" in other.stdout
    same = trtexec(lab, agx, "--loadEngine=plan.engine")
    assert same.returncode == 0 and "&&&& PASSED" in same.stdout
    both = trtexec(lab, agx, "--loadEngine=plan.engine --saveEngine=again.engine")
    assert both.returncode == 1 and "Incompatible load and save engine options selected" in both.stdout


def test_build_time_is_configurable(lab, lab_host, models):
    host = lab_host("xavier-nx-jp513").name
    lab.put(host, "/etc/y7deploy-lab/trtexec-build-seconds", "1.5\n")
    try:
        elapsed = lab.root(host, f"cd {WORK} && s=$(date +%s%N); {TRTEXEC} --onnx=static.onnx "
                                 "--saveEngine=s.engine >/dev/null; echo $(( ($(date +%s%N) - s) / 1000000 ))")
        assert int(elapsed.stdout.strip()) >= 1500
    finally:
        lab.put(host, "/etc/y7deploy-lab/trtexec-build-seconds", "0\n")


def test_a_failed_engine_write_leaves_what_trtexec_leaves(lab, lab_host, lab_fault, models):
    """getEngineBuildEnv (sampleEngines.cpp, 8.2 to 10.3) writes --saveEngine with one
    std::ofstream on the path itself, no temporary name: an open that fails leaves no file,
    a full disk leaves the truncated engine; both say "Saving engine to file failed."."""
    host = lab_host("orin-nano-jp61").name

    def files():
        return set(lab.root(host, f"ls -A {WORK}").stdout.split())

    no_dir = trtexec(lab, host, "--onnx=static.onnx --saveEngine=no-such-dir/x.engine")
    assert no_dir.returncode == 1 and "&&&& FAILED TensorRT.trtexec" in no_dir.stdout
    assert "[E] Saving engine to file failed." in no_dir.stdout and "[E] Engine set up failed" in no_dir.stdout
    assert "no-such-dir" not in files()

    assert trtexec(lab, host, "--onnx=static.onnx --saveEngine=whole.engine").returncode == 0
    whole = int(lab.root(host, f"stat -c %s {WORK}/whole.engine").stdout)
    before = files()
    with lab_fault(host, "disk-full"):
        full = trtexec(lab, host, "--onnx=static.onnx --saveEngine=full.engine")
        left = lab.root(host, f"stat -c %s {WORK}/full.engine")
        assert files() == before | {"full.engine"}, "no temporary file beside the engine"
    assert full.returncode == 1 and "[E] Saving engine to file failed." in full.stdout
    assert "&&&& PASSED" not in full.stdout
    assert left.returncode == 0 and int(left.stdout) < whole  # what fitted: the disk was full
    unloadable = trtexec(lab, host, "--loadEngine=full.engine")
    assert unloadable.returncode == 1 and "&&&& FAILED" in unloadable.stdout
    lab.root(host, f"rm -f {WORK}/full.engine {WORK}/whole.engine")


def run_app(lab, host, engine, classes=2, extra=""):
    """deepstream-app on WORK's configs until it prints **PERF: (then SIGINT) or exits."""
    lab.put(host, f"{WORK}/app.txt", kit.app_config())
    lab.put(host, f"{WORK}/config_infer_primary.txt", kit.infer_config(engine=engine, classes=classes, extra=extra))
    lab.put(host, f"{WORK}/labels.txt", "person\ncar\n")
    run = kit.run_app(lab, host, WORK, "app.txt")
    return run, run.names()


def test_deepstream_app_refuses_a_wrong_device_engine_and_reports_the_rebuild(lab, lab_host, models):
    nano, orin = lab_host("nano-jp461").name, lab_host("orin-nano-jp61").name
    assert trtexec(lab, orin, "--onnx=static.onnx --fp16 --saveEngine=orin.engine").returncode == 0
    lab.put(nano, f"{WORK}/orin.engine", lab.get(orin, f"{WORK}/orin.engine"))
    proc, events = run_app(lab, nano, "orin.engine")
    assert proc.returncode == 0, proc.output
    assert "Serialization assertion stdVersionRead == serializationVersion failed.Version tag does not match" \
        in proc.output
    assert "Trying to create engine from model files" in proc.output
    assert "engine-rebuild" in events and "engine-loaded" not in events
    assert "**PERF:" in proc.output and "App run successful" in proc.output


def test_deepstream_app_refuses_an_engine_of_another_gpu(lab, lab_host, models):
    orin, agx = lab_host("orin-nano-jp61").name, lab_host("agx-orin-jp62").name
    assert trtexec(lab, orin, "--onnx=static.onnx --fp16 --saveEngine=o.engine").returncode == 0
    # Same TensorRT 10.3 on both; make the plan claim another compute capability.
    raw = lab.get(orin, f"{WORK}/o.engine").replace(b'"compute": "8.7"', b'"compute": "7.2"')
    lab.put(agx, f"{WORK}/o.engine", raw)
    proc, events = run_app(lab, agx, "o.engine")
    assert "generated on an incompatible device, expecting compute 8.7 got compute 7.2" in proc.output
    assert "engine-rebuild" in events


def test_deepstream_app_loads_a_matching_engine_without_rebuilding(lab, lab_host, models):
    host = lab_host("xavier-nx-jp513").name
    assert trtexec(lab, host, "--onnx=static.onnx --fp16 --saveEngine=x.engine").returncode == 0
    proc, events = run_app(lab, host, "x.engine")
    assert proc.returncode == 0
    assert f"deserialized trt engine from :{WORK}/x.engine" in proc.output
    assert events[:3] == ["start", "engine-loaded", "running"] and "engine-rebuild" not in events
    perf = [l for l in proc.output.splitlines() if l.startswith("**PERF:")]
    assert perf[0].split() == ["**PERF:", "FPS", "0", "(Avg)"] and len(perf) >= 2


def test_deepstream_app_cannot_rebuild_from_a_too_new_opset(lab, lab_host, models):
    """No engine and an ONNX of opset 14 on TensorRT 8.2: nvinfer's rebuild fails to parse."""
    host = lab_host("nano-jp461").name
    lab.root(host, f"cd {WORK} && cp op14.onnx static.onnx")
    try:
        proc, events = run_app(lab, host, "none.engine")
    finally:
        lab.put(host, f"{WORK}/static.onnx", tiny_onnx(1))
    assert proc.returncode == 255
    assert "opset 14 is newer than this TensorRT's ONNX parser supports (up to opset 13)" in proc.output
    assert "failed to build network since parsing model errors." in proc.output
    assert "engine-rebuild-failed" in events and "running" not in events


def test_deepstream_app_checks_referenced_files_relative_to_each_config(lab, lab_host, models):
    host = lab_host("xavier-nx-jp513").name
    lab.root(host, f"rm -rf {WORK}/sub {WORK}/sub/labels.txt && mkdir -p {WORK}/sub && cp {WORK}/static.onnx {WORK}/sub/")
    # labels.txt sits next to app.txt, but nvinfer resolves it against its own config's directory
    lab.put(host, f"{WORK}/labels.txt", "person\ncar\n")
    lab.put(host, f"{WORK}/sub/config_infer_primary.txt", kit.infer_config(engine="none.engine"))
    lab.put(host, f"{WORK}/app_sub.txt", kit.app_config().replace("config-file=config_infer_primary.txt",
                                                                  "config-file=sub/config_infer_primary.txt"))
    proc = kit.run_app(lab, host, "/", f"{WORK}/app_sub.txt")
    assert proc.returncode == 255 and f"Could not open labels file:{WORK}/sub/labels.txt" in proc.output
    lab.put(host, f"{WORK}/sub/labels.txt", "person\ncar\n")
    proc = kit.run_app(lab, host, "/", f"{WORK}/app_sub.txt")
    assert proc.returncode == 0 and "**PERF:" in proc.output, proc.output
    lab.put(host, f"{WORK}/app_gone.txt", kit.app_config(uri=kit.SAMPLE.replace("sample_1080p_h264.mp4", "nothere.mp4")))
    gone = kit.run_app(lab, host, WORK, "app_gone.txt")
    assert gone.returncode == 255 and "Resource not found." in gone.output


def test_deepstream_app_parses_configs_as_glib_key_files(lab, lab_host, models):
    host = lab_host("orin-nano-jp61").name
    lab.put(host, f"{WORK}/broken.txt", "[application]\nenable-perf-measurement\n")
    proc = lab.root(host, f"cd {WORK} && deepstream-app -c broken.txt")
    assert proc.returncode != 0
    assert "which is not a key-value pair, group, or comment" in proc.stderr
    assert "Failed to parse config file" in proc.stderr


def test_deepstream_app_needs_the_custom_parser_library(lab, lab_host, models):
    host = lab_host("xavier-nx-jp513").name
    proc, _ = run_app(lab, host, "x.engine",
                      extra="custom-lib-path=nvdsinfer_custom_impl_Yolo/libnvdsinfer_custom_impl_Yolo.so\n")
    assert proc.returncode == 255
    assert (f"Could not open lib: {WORK}/nvdsinfer_custom_impl_Yolo/libnvdsinfer_custom_impl_Yolo.so"
            in proc.output)
    assert "cannot open shared object file: No such file or directory" in proc.output  # dlerror's words


def test_parser_fixture_is_shaped_like_deepstream_yolos():
    """Subdirectories, CUDA kernels with launches, a Makefile linking TensorRT and CUDA."""
    from y7deploy.lab.lab import FIXTURE

    tree = FIXTURE / "nvdsinfer_custom_impl_Yolo"
    assert (tree / "layers").is_dir() and list((tree / "layers").glob("*.cpp"))
    kernels = [p.read_text() for p in tree.glob("*.cu")]
    assert kernels and all("__global__" in k and re.search(r"<<<[^>]+>>>\(", k) for k in kernels)
    make = (tree / "Makefile").read_text()
    for lib in ("-lnvinfer", "-lnvinfer_plugin", "-lnvonnxparser", "-lcudart", "-lcublas"):
        assert lib in make
    assert "/usr/local/cuda-$(CUDA_VER)" in make and "layers/" in make


def test_parser_makefile_needs_cuda_ver_and_builds_a_shared_object(lab, lab_host):
    host = lab_host("xavier-nx-jp513").name
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(str(lab.deepstream_yolo_src), arcname="DeepStream-Yolo")
    lab.put(host, "/home/jetson/src.tar", buf.getvalue(), owner="jetson")
    lab.root(host, "cd /home/jetson && rm -rf DeepStream-Yolo && tar xf src.tar && chown -R jetson: DeepStream-Yolo")
    make = "cd /home/jetson/DeepStream-Yolo && runuser -u jetson -- make -C nvdsinfer_custom_impl_Yolo"
    unset = lab.root(host, make)
    assert unset.returncode != 0 and '"CUDA_VER is not set"' in unset.stderr
    wrong = lab.root(host, f"{make} CUDA_VER=12.6")  # JetPack 5 has CUDA 11.4 only
    assert wrong.returncode != 0 and "cuda_runtime_api.h: No such file or directory" in wrong.stderr
    built = lab.root(host, f"{make} CUDA_VER=11.4")
    assert built.returncode == 0, built.stderr
    assert "nvcc -c -o yoloForward.o" in built.stdout and "layers/activation_layer.o" in built.stdout
    so = "/home/jetson/DeepStream-Yolo/nvdsinfer_custom_impl_Yolo/libnvdsinfer_custom_impl_Yolo.so"
    assert lab.get(host, so)[:4] == b"\x7fELF"
    symbols = lab.root(host, f"nm -D --defined-only {so}").stdout
    assert "NvDsInferParseYolo" in symbols and "NvDsInferYoloCudaEngineGet" in symbols
    needed = lab.root(host, f"readelf -d {so}").stdout
    assert "libnvinfer.so.8" in needed and "libcudart.so.11.0" in needed
    lab.root(host, f"{make} CUDA_VER=11.4 clean")
    cv = lab.root(host, f"{make} CUDA_VER=11.4 OPENCV=1")  # INT8 calibration in the library
    assert cv.returncode == 0, cv.stderr
    assert "-DOPENCV" in cv.stdout and "libopencv_imgproc" in lab.root(host, f"readelf -d {so}").stdout
    lab.root(host, "rm -rf /home/jetson/DeepStream-Yolo /home/jetson/src.tar")

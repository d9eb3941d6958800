"""Engine keys, device classes and trtexec's command line per TensorRT version; the
expected flags are NVIDIA-FACTS.md's table (TensorRT's sampleOptions.cpp per branch)."""

from __future__ import annotations

import re

import pytest

from y7deploy.deploy import engine as eng

SHA = "9f2c" + "0" * 60
XAVIER = {"model": "NVIDIA Jetson Xavier NX Developer Kit", "l4t": "35.5.0", "tensorrt": "8.5.2.2",
          "compute_capability": "7.2", "soc": "tegra194"}


def key(**change):
    parts = dict(onnx_sha256=SHA, precision="fp16", batch_profile="b1", trt_version="8.5.2.2",
                 compute_capability="7.2", gpu_model="NVIDIA Jetson Xavier NX Developer Kit", dla_core=None)
    parts.update(change)
    return eng.engine_key(**parts)


def test_engine_key_is_stable_and_safe_as_a_file_name():
    assert key() == key()
    assert re.fullmatch(r"[A-Za-z0-9._-]+", key()) and len(key()) <= 80


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "1" * 64}, {"precision": "fp32"}, {"batch_profile": "b4"}, {"batch_profile": "d1-4"},
    {"trt_version": "8.5.2.1"}, {"compute_capability": "8.7"},
    {"gpu_model": "NVIDIA Jetson AGX Orin Developer Kit"}, {"dla_core": 0}, {"dla_core": 1},
])
def test_every_part_of_the_tuple_changes_the_key(change):
    assert key(**change) != key()


def test_orin_nano_and_agx_orin_share_compute_but_not_engines():
    """Same compute capability 8.7, other module: TensorRT warns across models (NVIDIA-FACTS)."""
    assert key(compute_capability="8.7", gpu_model="NVIDIA Jetson Orin Nano Developer Kit") != \
        key(compute_capability="8.7", gpu_model="NVIDIA Jetson AGX Orin Developer Kit")


def test_device_class_is_module_l4t_tensorrt_precision_batch():
    same_box_other_name = XAVIER | {"hostname": "cam-b07", "disk_free_opt_mb": 1}
    assert eng.device_class(XAVIER, "fp16", "b1") == eng.device_class(same_box_other_name, "fp16", "b1")
    for other in (XAVIER | {"l4t": "35.4.1"}, XAVIER | {"tensorrt": "8.5.2.1"},
                  XAVIER | {"model": "NVIDIA Jetson AGX Xavier Developer Kit"}):
        assert eng.device_class(other, "fp16", "b1") != eng.device_class(XAVIER, "fp16", "b1")
    assert eng.device_class(XAVIER, "int8", "b1") != eng.device_class(XAVIER, "fp16", "b1")
    assert eng.device_class(XAVIER, "fp16", "b4") != eng.device_class(XAVIER, "fp16", "b1")


def argv(trt, **kw):
    base = dict(precision="fp16", dynamic=False, batch=1, input_name="images", input_hw=(640, 640),
                workspace_mib=2048, timing_cache="/c/t.cache", calib_file=None, dla_core=None)
    base.update(kw)
    return eng.trtexec_argv(trt, "/r/model.onnx", "/e/.k.engine.tmp", **base)


def test_tensorrt_8_2_takes_workspace_and_buildonly():
    a = argv("8.2.1.9")
    assert a[0] == "/usr/src/tensorrt/bin/trtexec"
    assert "--workspace=2048" in a and not any(x.startswith("--memPoolSize") for x in a)
    assert "--buildOnly" in a and "--skipInference" not in a


def test_tensorrt_8_5_takes_mempoolsize_in_plain_mib():
    a = argv("8.5.2.2")
    assert "--memPoolSize=workspace:2048" in a and not any(x.startswith("--workspace") for x in a)
    assert "--buildOnly" in a


def test_tensorrt_10_has_no_workspace_buildonly_or_explicitbatch():
    a = argv("10.3.0.30")
    assert "--memPoolSize=workspace:2048M" in a
    assert "--skipInference" in a
    assert not {x.split("=")[0] for x in a} & {"--workspace", "--buildOnly", "--explicitBatch"}


@pytest.mark.parametrize("trt", ["8.2.1.9", "8.5.2.2", "10.3.0.30"])
def test_common_flags(trt):
    a = argv(trt)
    assert "--onnx=/r/model.onnx" in a and "--saveEngine=/e/.k.engine.tmp" in a
    assert "--fp16" in a and "--timingCacheFile=/c/t.cache" in a
    assert "--explicitBatch" not in a and "--int8" not in a


@pytest.mark.parametrize("trt", ["8.2.1.9", "10.3.0.30"])
def test_shape_flags_only_for_a_dynamic_model(trt):
    assert not [x for x in argv(trt) if "Shapes" in x]
    dyn = argv(trt, dynamic=True, batch=4, input_hw=(384, 640))
    assert "--minShapes=images:1x3x384x640" in dyn
    assert "--optShapes=images:4x3x384x640" in dyn
    assert "--maxShapes=images:4x3x384x640" in dyn


def test_precisions():
    assert not {"--fp16", "--int8"} & set(argv("8.5.2.2", precision="fp32"))
    int8 = argv("8.5.2.2", precision="int8", calib_file="/r/calib.table")
    assert "--int8" in int8 and "--calib=/r/calib.table" in int8
    with pytest.raises(ValueError, match="calibration"):
        argv("8.5.2.2", precision="int8")


def test_dla_core_falls_back_to_the_gpu_for_what_dla_cannot_run():
    a = argv("8.5.2.2", dla_core=1)
    assert "--useDLACore=1" in a and "--allowGPUFallback" in a
    assert not [x for x in argv("8.5.2.2") if "DLA" in x or "GPUFallback" in x]


def test_no_workspace_flag_when_none_is_asked():
    assert not [x for x in argv("8.2.1.9", workspace_mib=None) if "workspace" in x.lower()]


@pytest.mark.parametrize("trt, opset", [("8.2.1.9", 13), ("8.4.1.5", 13), ("8.5.2.2", 17), ("8.6.2.3", 17),
                                        ("10.0.0.6", 20), ("10.3.0.30", 20), ("8.0.1.6", 13),
                                        ("7.1.3.0", None)])
def test_max_opset_per_parser(trt, opset):
    assert eng.max_opset(trt) == opset


def test_fast_int8_and_dla_by_gpu():
    assert not eng.has_fast_int8("5.3")  # Nano
    assert eng.has_fast_int8("7.2") and eng.has_fast_int8("8.7")
    assert not eng.has_dla("tegra210") and eng.has_dla("tegra194")

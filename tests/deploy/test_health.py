"""The health gate on canned journal text, written by hand from the formats NVIDIA-FACTS.md
and DeepStream's sources give (nvinfer's logger lines, deepstream-app's **PERF: table)."""

from __future__ import annotations

from y7deploy.deploy.health import UnitState, parse_unit, read_journal, verdict

ENGINE = "/opt/y7deploy/engines/k1.engine"
PREFIX = "Dec 01 02:00:{:02d} cam-a01 deepstream-app[4242]: "

LOADED = (
    "0:00:04.913443213  4242 0x55d0c0de INFO                 nvinfer gstnvinfer.cpp:682:gst_nvinfer_logger:"
    "<primary_gie> NvDsInferContext[UID 1]: Info from NvDsInferContextImpl::deserializeEngineAndBackend() "
    f"<nvdsinfer_context_impl.cpp:2092> [UID = 1]: deserialized trt engine from :{ENGINE}\n"
    "INFO: [Implicit Engine Info]: layers num: 2\n"
)
REBUILT = (
    f"WARNING: Deserialize engine failed because file path: {ENGINE} open error\n"
    "0:00:02.1 4242 0x55d0c0de WARN                 nvinfer gstnvinfer.cpp:679:gst_nvinfer_logger:<primary_gie> "
    "NvDsInferContext[UID 1]: Warning from NvDsInferContextImpl::deserializeEngineAndBackend() "
    f"<nvdsinfer_context_impl.cpp:1976> [UID = 1]: deserialize engine from file :{ENGINE} failed\n"
    "0:00:02.2 4242 0x55d0c0de INFO                 nvinfer gstnvinfer.cpp:682:gst_nvinfer_logger:<primary_gie> "
    "NvDsInferContext[UID 1]: Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2012> "
    "[UID = 1]: Trying to create engine from model files\n"
    "0:09:12.0 4242 0x55d0c0de INFO                 nvinfer gstnvinfer.cpp:682:gst_nvinfer_logger:<primary_gie> "
    "NvDsInferContext[UID 1]: Info from NvDsInferContextImpl::buildModel() <nvdsinfer_context_impl.cpp:2045> "
    "[UID = 1]: serialize cuda engine to file: /opt/y7deploy/current/model_b1_gpu0_fp16.engine successfully\n"
)


def perf(rows, streams=2):
    """deepstream-app's table: header, rows of '%.2f (%.2f)\\t' per stream, header again every 20."""
    out = []
    for i, row in enumerate(rows):
        if i % 20 == 0:
            out.append("\n**PERF:  " + "".join(f"FPS {s} (Avg)\t" for s in range(streams)))
        out.append("**PERF:  " + "".join(f"{cur:.2f} ({avg:.2f})\t" for cur, avg in row))
    return "\n".join(out) + "\n"


def steady(n, fps=(30.0, 29.5)):
    return [[(f, f) for f in fps] for _ in range(n)]


UP = UnitState("active", "running", n_restarts=0, main_pid=4242)


def test_engine_deserialized_and_perf_read():
    report = read_journal(LOADED + "\nRunning...\n" + perf(steady(3)))
    assert report.engine_loaded == ENGINE and not report.rebuilt
    assert report.streams == 2 and len(report.perf) == 3
    assert report.perf[0].fps == (30.0, 29.5) and report.perf[0].avg == (30.0, 29.5)


def test_perf_header_repeats_every_20_lines_and_is_not_a_sample():
    report = read_journal(LOADED + perf(steady(45)))
    assert len(report.perf) == 45 and report.streams == 2


def test_journalctl_prefixes_are_read_through():
    text = "".join(PREFIX.format(i) + line + "\n" for i, line in enumerate((LOADED + perf(steady(2))).splitlines()))
    report = read_journal(text)
    assert report.engine_loaded == ENGINE and len(report.perf) == 2 and report.perf[1].fps == (30.0, 29.5)


def test_short_unix_timestamps_date_the_samples():
    lines = perf(steady(3), streams=1).splitlines()
    text = "\n".join(f"1764554400.{i:06d} cam-a01 deepstream-app[1]: {line}" if line else "" for i, line in
                     enumerate(lines))
    samples = read_journal(text).perf
    assert [s.time for s in samples] == [1764554400.000002, 1764554400.000003, 1764554400.000004]


def test_a_rebuild_is_seen_with_its_cause():
    report = read_journal(REBUILT + perf(steady(2)))
    assert report.rebuilt and report.engine_loaded is None
    assert report.engine_written == "/opt/y7deploy/current/model_b1_gpu0_fp16.engine"
    assert any("deserialize engine from file" in c for c in report.rebuild_causes)


def test_int8_fallback_is_a_rebuild_cause():
    text = ("WARNING: INT8 not supported by platform. Trying FP16 mode.\n"
            "0:00:01 1 0x1 INFO nvinfer gstnvinfer.cpp:682:gst_nvinfer_logger:<primary_gie> "
            "[UID = 1]: Trying to create engine from model files\n")
    report = read_journal(text)
    assert report.rebuilt and report.rebuild_causes == ("INT8 not supported by platform. Trying FP16 mode.",)


def test_verdict_passes_when_every_stream_holds_the_floor_for_the_window():
    # interval 5 s, window 20 s -> 4 samples at or above 25 FPS
    report = read_journal(LOADED + perf([[(12.0, 12.0), (11.0, 11.0)]] + steady(4)))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5, engine_path=ENGINE)
    assert v.ok and not v.pending and v.fps == (30.0, 29.5)


def test_verdict_waits_while_the_window_is_not_covered():
    report = read_journal(LOADED + perf(steady(3)))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5)
    assert not v.ok and v.pending and "15 of 20 s" in v.reason


def test_one_slow_stream_holds_the_gate():
    report = read_journal(LOADED + perf(steady(6, fps=(30.0, 24.99))))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5)
    assert not v.ok and v.pending and "stream 1 24.99" in v.reason


def test_exactly_the_floor_passes():
    report = read_journal(LOADED + perf(steady(4, fps=(25.0, 25.0))))
    assert verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5).ok


def test_a_dip_restarts_the_window():
    rows = steady(5) + [[(3.0, 20.0), (30.0, 29.0)]] + steady(2)
    report = read_journal(LOADED + perf(rows))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5)
    assert v.pending and "10 of 20 s" in v.reason


def test_missing_stream_is_not_healthy():
    report = read_journal(LOADED + perf(steady(6, fps=(30.0,)), streams=1))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5)
    assert not v.ok and "1 stream(s), expected 2" in v.reason


def test_rebuild_fails_the_gate_for_good():
    report = read_journal(REBUILT + perf(steady(10)))
    v = verdict(report, UP, UP, min_fps=25, window_s=20, n_streams=2, perf_interval_s=5)
    assert v.failed and "rebuilt" in v.reason


def test_restarts_fail_the_gate():
    after = UnitState("active", "running", n_restarts=1, main_pid=5151)
    v = verdict(read_journal(LOADED + perf(steady(10))), UP, after, min_fps=25, window_s=20, n_streams=2)
    assert v.failed and "NRestarts 0 -> 1" in v.reason


def test_unit_down_or_app_ended_fails():
    down = UnitState("failed", "failed", n_restarts=0, main_pid=0)
    assert verdict(read_journal(LOADED), UP, down, 25, 20, 2).failed
    ended = read_journal(LOADED + perf(steady(5)) + "Quitting\nApp run successful\n")
    assert ended.app_exited == "App run successful"
    assert verdict(ended, UP, UP, 25, 20, 2).failed


def test_other_engine_loaded_fails():
    report = read_journal(LOADED.replace(ENGINE, "/opt/y7deploy/engines/old.engine") + perf(steady(5)))
    v = verdict(report, UP, UP, 25, 20, 2, engine_path=ENGINE)
    assert v.failed and "old.engine" in v.reason


def test_nothing_loaded_yet_is_pending():
    v = verdict(read_journal("Running...\n"), UP, UP, 25, 20, 2)
    assert v.pending and not v.ok


def test_parse_unit_reads_systemctl_show():
    unit = parse_unit("ActiveState=active\nSubState=running\nNRestarts=3\nMainPID=811\n"
                      "ExecMainStartTimestampMonotonic=123456789\n")
    assert unit == UnitState("active", "running", 3, 811, 123456789) and unit.running
    assert not parse_unit("ActiveState=activating\nSubState=auto-restart\nNRestarts=\n").running


def test_an_engine_built_for_a_smaller_batch_is_a_rebuild():
    text = ("WARNING: Backend has maxBatchSize 1 whereas 4 has been requested\n"
            "0:00:01 1 0x1 WARN nvinfer gstnvinfer.cpp:679:gst_nvinfer_logger:<primary_gie> NvDsInferContext[UID 1]: "
            "Warning from NvDsInferContextImpl::checkBackendParams() <nvdsinfer_context_impl.cpp:1833> [UID = 1]: "
            f"deserialized backend context :{ENGINE} failed to match config params, trying rebuild\n"
            "0:00:01 1 0x1 INFO nvinfer gstnvinfer.cpp:682:gst_nvinfer_logger:<primary_gie> [UID = 1]: "
            "Trying to create engine from model files\n")
    report = read_journal(LOADED + text)
    assert report.rebuilt and len(report.rebuild_causes) == 2
    assert verdict(report, UP, UP, 25, 20, 2).failed


def test_the_window_covered_reads_in_tenths_of_a_second_whatever_the_timestamps():
    since = 1733018400.0
    lines = [f"{since + 1.00031 * i:.6f} cam deepstream-app[4242]: **PERF:  30.00 (30.00)\t" for i in range(1, 4)]
    report = read_journal("1733018400.0 cam deepstream-app[4242]: deserialized trt engine from :/e.engine\n"
                          + "\n".join(lines) + "\n")
    passed = verdict(report, UP, UP, min_fps=5, window_s=3, n_streams=1, perf_interval_s=1)
    assert passed.ok and "for 3 s " in passed.reason  # 2.00062 s between the lines + one interval
    waiting = verdict(report, UP, UP, min_fps=5, window_s=10, n_streams=1, perf_interval_s=1)
    assert waiting.pending and waiting.reason.startswith("3 of 10 s ")


def test_the_last_words_of_the_process_a_restart_stopped_are_not_the_new_ones():
    # journald on a busy device read the old app's last lines after the restart and tagged
    # them with the new invocation: they carry the old PID.
    text = ("1733018400.10 cam deepstream-app[4100]: Quitting\n"
            "1733018400.10 cam deepstream-app[4100]: App run successful\n"
            "1733018400.90 cam deepstream-app[4242]: deserialized trt engine from :/e.engine\n"
            "1733018401.90 cam deepstream-app[4242]: **PERF:  30.00 (30.00)\t\n")
    assert read_journal(text).app_exited == "App run successful"  # without knowing the new PID
    report = read_journal(text, pid=4242)
    assert report.app_exited is None and report.engine_loaded == "/e.engine" and len(report.perf) == 1
    assert verdict(report, UP, UP, min_fps=5, window_s=1, n_streams=1, perf_interval_s=1).ok

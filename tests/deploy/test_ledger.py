"""The workstation ledger: runs and host outcomes in SQLite, secrets kept out."""

from __future__ import annotations

import io
import sqlite3
import threading
from pathlib import Path

from y7deploy.deploy.ledger import DEFAULT_NAME, Ledger, LedgerReporter, ledger_path
from y7deploy.fleet.redact import Redactor
from y7deploy.fleet.report import PlainReporter, Tee
from y7deploy.fleet.runner import HostStats, RunResult


def test_path_from_option_then_environment_then_beside_the_inventory(tmp_path):
    inv_dir = tmp_path / "inventory"
    inv_dir.mkdir()
    inv_file = tmp_path / "hosts.yml"
    inv_file.write_text("all: {}\n")
    env = {"Y7DEPLOY_LEDGER": "/var/lib/y7/ledger.sqlite"}
    assert ledger_path("/x/l.sqlite", inv_dir, env) == Path("/x/l.sqlite")
    assert ledger_path(None, inv_dir, env) == Path("/var/lib/y7/ledger.sqlite")
    assert ledger_path(None, inv_file, {}) == tmp_path / DEFAULT_NAME


def test_the_default_beside_an_inventory_directory_is_next_to_it_not_inside_it(tmp_path, monkeypatch):
    inv_dir = tmp_path / "site" / "inventory"
    inv_dir.mkdir(parents=True)
    assert ledger_path(None, inv_dir, {}) == tmp_path / "site" / DEFAULT_NAME
    monkeypatch.chdir(tmp_path / "site")
    assert ledger_path(None, "inventory/", {}) == tmp_path / "site" / DEFAULT_NAME


def test_a_push_is_recorded_per_host_and_read_back(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    run = ledger.start_run("push", "yolov7-tiny-2", "ops@ws1", {"serial": "1,25%,100%", "precision": "fp16"})
    ledger.record_host(run, "cam-a01", from_release="yolov7-tiny-1", to_release="yolov7-tiny-2", engine_key="k2",
                       build_seconds=312.5, cache_used="built", fps=29.9, result="committed")
    ledger.record_host(run, "cam-a03", from_release="yolov7-tiny-1", to_release="yolov7-tiny-2", engine_key="k3",
                       result="rolled_back", reason="gate: below 5 FPS")
    ledger.finish_run(run, "failed", "1 host rolled back")
    rows = ledger.history()
    assert [(r["host"], r["result"]) for r in rows] == [("cam-a01", "committed"), ("cam-a03", "rolled_back")]
    assert rows[0]["kind"] == "push" and rows[0]["operator"] == "ops@ws1" and rows[0]["build_seconds"] == 312.5
    assert rows[1]["run_result"] == "failed" and rows[1]["reason"] == "gate: below 5 FPS"
    assert ledger.last_for_host("cam-a03")["to_release"] == "yolov7-tiny-2"
    assert ledger.history("cam-a01")[0]["fps"] == 29.9 and ledger.last_for_host("nope") is None
    assert ledger.runs()[0]["options"] == {"precision": "fp16", "serial": "1,25%,100%"}


def test_secrets_never_reach_the_file(tmp_path):
    redactor = Redactor()
    redactor.add_vars({"kafka_password": "hunter2-very-secret"})
    path = tmp_path / "l.sqlite"
    ledger = Ledger(path, redactor)
    run = ledger.start_run("push", "m-1", "ops", {"broker_conn_str": "HostName=x;SharedAccessKey=abc123",
                                                  "extra": {"api_token": "tok-999"}})
    ledger.record_host(run, "cam-1", from_release=None, to_release="m-1", result="failed",
                       reason="kafka said: bad password hunter2-very-secret")
    ledger.finish_run(run, "failed", "see hunter2-very-secret")
    raw = path.read_bytes()
    for secret in (b"hunter2-very-secret", b"abc123", b"tok-999"):
        assert secret not in raw
    with sqlite3.connect(path) as db:
        dump = "\n".join(db.iterdump())
    assert "hunter2" not in dump and "abc123" not in dump


def test_two_writers_at_once(tmp_path):
    path = tmp_path / "l.sqlite"
    Ledger(path)

    def write(n):
        ledger = Ledger(path)
        run = ledger.start_run("push", "m", f"op{n}")
        for i in range(20):
            ledger.record_host(run, f"h{n}-{i}", from_release=None, to_release="m", result="committed")
        ledger.finish_run(run, "ok")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Ledger(path).history()) == 60 and len(Ledger(path).runs()) == 3


def test_a_provision_run_is_recorded_from_the_runners_events(tmp_path):
    ledger = Ledger(tmp_path / "l.sqlite")
    run_id = ledger.start_run("provision", None, "ops")
    console = io.StringIO()
    watch = Tee(PlainReporter(console), LedgerReporter(ledger, run_id))
    watch.run_start(["cam-1", "cam-2", "cam-3"])
    watch.play_start("provision y7deploy on Jetsons")
    watch.task_start("build the parser for this host's CUDA")
    watch.host_result("cam-1", "changed", {"changed": True})
    watch.host_result("cam-2", "failed", {"msg": "non-zero return code", "stderr": "make: CUDA_VER is not set"})
    watch.host_result("cam-3", "unreachable", {"msg": "ssh: connect to host 198.18.0.13 port 22: No route to host"})
    watch.recap(RunResult(stats={"cam-1": HostStats(ok=3, changed=1), "cam-2": HostStats(ok=2, failed=1),
                                 "cam-3": HostStats(unreachable=1)}, plays=[],
                          failed_hosts=["cam-2"], unreachable_hosts=["cam-3"]))
    rows = {r["host"]: r for r in ledger.history()}
    assert {h: r["result"] for h, r in rows.items()} == {"cam-1": "changed", "cam-2": "failed", "cam-3": "unreachable"}
    assert rows["cam-2"]["reason"] == "non-zero return code" and "No route to host" in rows["cam-3"]["reason"]
    assert rows["cam-1"]["run_result"] == "failed" and rows["cam-1"]["kind"] == "provision"
    assert "cam-2" in console.getvalue()  # the console heard the same run

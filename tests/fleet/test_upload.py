"""Content-addressed uploads to lab hosts over real SSH: skip, change, verify, resume."""

from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from y7deploy.fleet import transfer
from y7deploy.fleet.connection import Connection, Unreachable
from y7deploy.fleet.hostspec import inventory_specs
from y7deploy.fleet.inventory import load_inventory
from y7deploy.fleet.transfer import TransferError, TransferReport, file_key, part_name

pytestmark = pytest.mark.lab

HOME = "/home/jetson"


@pytest.fixture(scope="module")
def specs(lab):
    return inventory_specs(load_inventory(lab.inventory_path))


@pytest.fixture(scope="module")
def conn(specs):
    with Connection(specs["jetson03"]) as c:
        c.run(f"rm -rf {HOME}/up && mkdir -p {HOME}/up")
        yield c


def remote_sha(lab, host, path):
    return hashlib.sha256(lab.get(host, path)).hexdigest()


def stat(lab, host, path):
    return lab.root(host, ["stat", "-c", "%a %U", path]).stdout.strip()


def test_small_bytes_skip_and_change(lab, conn):
    path = f"{HOME}/up/small.txt"
    assert conn.put_bytes(b"one\n", path) is True
    assert conn.put_bytes(b"one\n", path) is False
    assert lab.get("jetson03", path) == b"one\n"
    assert conn.put_bytes(b"two\n", path, mode=0o600) is True
    assert lab.get("jetson03", path) == b"two\n" and stat(lab, "jetson03", path) == "600 jetson"
    assert conn.put_bytes(b"two\n", path, mode="0640") is True  # only the mode differs: still a change
    assert conn.put_bytes(b"two\n", path, mode="0640") is False
    assert conn.run(f"ls -A {HOME}/up").stdout.split() == ["small.txt"]  # no temp files left


def test_existing_mode_kept_when_not_given(lab, conn):
    path = f"{HOME}/up/script.sh"
    conn.put_bytes(b"#!/bin/sh\n", path, mode=0o755)
    assert conn.put_bytes(b"#!/bin/sh\necho hi\n", path) is True
    assert stat(lab, "jetson03", path) == "755 jetson"


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("up") / "model.onnx"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


def test_large_file_skip_change_and_verify(lab, conn, big_file, tmp_path):
    path = f"{HOME}/up/model.onnx"
    report = TransferReport()
    assert transfer.put_file(conn, big_file, path, report=report) is True
    assert report.bytes_sent == big_file.stat().st_size and report.resumed_from == 0
    assert remote_sha(lab, "jetson03", path) == hashlib.sha256(big_file.read_bytes()).hexdigest()
    again = TransferReport()
    assert transfer.put_file(conn, big_file, path, report=again) is False
    assert again.skipped and again.bytes_sent == 0
    # changed in place behind our back, same size: the host's cached sum must not hide it
    lab.root("jetson03", ["sh", "-c", f"printf X | dd of={path} bs=1 seek=100 conv=notrunc status=none"])
    assert conn.put_file(big_file, path) is True
    assert remote_sha(lab, "jetson03", path) == hashlib.sha256(big_file.read_bytes()).hexdigest()
    # a different local file of the same name
    other = tmp_path / "model.onnx"
    other.write_bytes(big_file.read_bytes()[::-1])
    assert conn.put_file(other, path, mode=0o644) is True
    assert remote_sha(lab, "jetson03", path) == hashlib.sha256(other.read_bytes()).hexdigest()


def test_resume_from_partial_temp_file(lab, conn, big_file):
    path = f"{HOME}/up/resumed.onnx"
    data = big_file.read_bytes()
    half = len(data) // 2
    lab.put("jetson03", part_name(path, file_key(big_file)), data[:half], owner="jetson")
    report = TransferReport()
    assert transfer.put_file(conn, big_file, path, report=report) is True
    assert report.resumed_from == half and report.bytes_sent == len(data) - half
    assert lab.get("jetson03", path) == data


def test_corrupt_partial_is_restarted(lab, conn, big_file):
    path = f"{HOME}/up/corrupt.onnx"
    data = big_file.read_bytes()
    lab.put("jetson03", part_name(path, file_key(big_file)), b"\xff" * 1000, owner="jetson")
    report = TransferReport()
    assert transfer.put_file(conn, big_file, path, report=report) is True
    assert report.resumed_from == 0 and report.bytes_sent == (len(data) - 1000) + len(data)  # tried, then restarted
    assert lab.get("jetson03", path) == data


def test_sudo_upload_to_root_dir(lab, conn):
    path = "/etc/y7deploy-test.conf"
    with pytest.raises(TransferError, match="ermission denied"):
        conn.put_bytes(b"x=1\n", path)
    assert conn.put_bytes(b"x=1\n", path, sudo=True, mode=0o644) is True
    assert stat(lab, "jetson03", path) == "644 root"
    assert conn.put_bytes(b"x=1\n", path, sudo=True, mode=0o644) is False
    lab.root("jetson03", ["rm", "-f", path])


def test_disk_full_is_a_transfer_error_not_unreachable(lab, lab_fault, specs, big_file):
    with lab_fault("jetson04", "disk-full"), Connection(specs["jetson04"]) as c:
        with pytest.raises(TransferError, match="No space left"):
            c.put_file(big_file, "/opt/y7deploy/model.onnx", sudo=True)
        with pytest.raises(TransferError, match="No space left"):
            c.put_bytes(b"x" * 100_000, "/opt/y7deploy/labels.txt", sudo=True)
        assert c.run("true").ok  # the connection is still fine
        leftovers = c.run("ls -A /opt/y7deploy", sudo=True).stdout.split()
    assert not [f for f in leftovers if ".y7part-" in f]  # a part on a full disk is removed, not resumed


def test_missing_directory_is_an_error(conn):
    with pytest.raises(TransferError, match="/nonexistent/dir"):
        conn.put_bytes(b"x", "/nonexistent/dir/file")


def test_get(conn, tmp_path):
    conn.put_bytes(b"fetch me\n", f"{HOME}/up/fetch.txt")
    conn.get(f"{HOME}/up/fetch.txt", tmp_path / "got.txt")
    assert (tmp_path / "got.txt").read_bytes() == b"fetch me\n"
    with pytest.raises(FileNotFoundError):
        conn.get_bytes(f"{HOME}/up/absent")


def test_link_down_mid_transfer_then_resume(lab, lab_fault, specs, tmp_path):
    """A real dropped link: the upload fails as Unreachable, the next one sends only the rest.

    The stream is held after its first 512 KiB until the host holds some of them and the link
    is cut: the cut falls mid-transfer however fast or loaded the machine is."""
    local = tmp_path / "blob.bin"
    data = os.urandom(2 * 1024 * 1024)
    local.write_bytes(data)
    path = f"{HOME}/blob.bin"
    part = part_name(path, file_key(local))
    conn = Connection(specs["jetson04"], link_timeout=2).open()
    held, cut = threading.Event(), threading.Event()
    hold_after_first_bytes(conn, 512 * 1024, held, cut)
    errors: list[BaseException] = []

    def upload():
        try:
            conn.put_file(local, path)
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    worker = threading.Thread(target=upload)
    try:
        worker.start()
        assert held.wait(120), "the upload never started streaming"
        while part_size(lab, part) == 0:  # the host has begun to write what was sent
            assert worker.is_alive()
            time.sleep(0.05)
        with lab_fault("jetson04", "link-down"):
            cut.set()
            worker.join(120)
        assert not worker.is_alive()
        assert errors and isinstance(errors[0], Unreachable)
    finally:
        cut.set()
        conn.close()
    arrived = int(lab.root("jetson04", ["stat", "-c", "%s", part]).stdout)
    assert 0 < arrived < len(data)
    report = TransferReport()
    with Connection(specs["jetson04"]) as again:
        assert transfer.put_file(again, local, path, report=report) is True
    assert report.resumed_from == arrived and report.bytes_sent == len(data) - arrived
    assert lab.get("jetson04", path) == data


def part_size(lab, part: str) -> int:
    return int(lab.root("jetson04", ["sh", "-c", f"stat -c %s {part} 2>/dev/null || echo 0"]).stdout.strip() or 0)


def hold_after_first_bytes(conn: Connection, first: int, held: threading.Event, release: threading.Event) -> None:
    """Every stream conn starts sends `first` bytes, then waits for `release` before the rest."""
    start = conn.start

    def holding_start(*args, **kwargs):
        running = start(*args, **kwargs)
        send, sent = running.send, [0]

        def send_held(data) -> None:
            view = memoryview(data)
            for i in range(0, len(view), 64 * 1024):
                if sent[0] >= first and not release.is_set():
                    held.set()
                    release.wait()
                piece = view[i:i + 64 * 1024]
                send(piece)
                sent[0] += len(piece)

        running.send = send_held
        return running

    conn.start = holding_start

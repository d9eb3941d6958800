"""Lab cameras: one RTSP endpoint per host on the lab bridge, for RTSP sources.

A camera is a small process on this machine listening on the bridge address (the
hosts reach it as they reach a camera on their LAN) that answers RTSP requests with
"RTSP/1.0 200 OK"; it streams nothing. The deepstream-app stand-in treats a camera that
answers as delivering frames and one that doesn't as lost (reconnect warnings, FPS 0).
`lab fault HOST camera-down` stops HOST's camera; `camera-up` or `clear` starts it again.
Each camera process carries the lab's marker in its argv, so `lab down` finds it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

PORT_BASE = 8554  # camera of host N listens on PORT_BASE + N


def port(index: int) -> int:
    return PORT_BASE + index


def uri(address: str, index: int, host: str) -> str:
    return f"rtsp://{address}:{port(index)}/{host}"


def start(address: str, index: int, marker: str, log: Path) -> None:
    """Start the camera of host `index` in the background (detached, outlives us) and
    wait until it accepts connections."""
    with open(log, "ab") as out:
        subprocess.run(["setsid", "-f", sys.executable, "-m", "y7deploy.lab.camera", address,
                        str(port(index)), marker], stdin=subprocess.DEVNULL, stdout=out,
                       stderr=subprocess.STDOUT, check=True, env={**os.environ, "PYTHONPATH": _root()})
    deadline = time.monotonic() + 10
    while not answers(address, port(index)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"lab camera on {address}:{port(index)} did not start; see {log}")
        time.sleep(0.05)


def stop(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def answers(address: str, port_: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((address, port_), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n")
            return s.recv(64).startswith(b"RTSP/1.0 200")
    except OSError:
        return False


def _root() -> str:
    return str(Path(__file__).resolve().parents[2])


def _serve(conn: socket.socket) -> None:
    with conn:
        conn.settimeout(30)
        buf = b""
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    request, buf = buf.split(b"\r\n\r\n", 1)
                    cseq = next((line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                                 if line.lower().startswith(b"cseq:")), b"1")
                    conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: " + cseq + b"\r\nServer: y7deploy-lab-camera\r\n\r\n")
        except OSError:
            return


def serve(address: str, port_: int) -> None:
    with socket.create_server((address, port_), reuse_port=False) as server:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":  # python -m y7deploy.lab.camera ADDRESS PORT MARKER
    serve(sys.argv[1], int(sys.argv[2]))

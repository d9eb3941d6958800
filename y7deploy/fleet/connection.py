"""One SSH connection per host, reused for the whole run.

Built on paramiko's Transport directly rather than Fabric's Connection: we need
our own host key checks before authentication (Fabric's default auto-adds any
key), our own algorithm preferences, and a single exec channel per command with
no extra round trips. Each command costs one channel open and one exec request.

Public API (used by the runner, modules and facts):

    Connection(spec, *, accept_new_host_keys=False, connect_timeout=None, retries=2, link_timeout=20)
        .open() -> Connection          connect now (otherwise the first command does)
        .run(command, *, sudo=False, stdin=None, timeout=None, env=None) -> Result
        .put_bytes(data, remote, *, mode=None, sudo=False) -> bool   changed?
        .put_file(local, remote, *, mode=None, sudo=False) -> bool   changed?
        .get_bytes(remote, *, sudo=False) -> bytes
        .get(remote, local, *, sudo=False) -> None
        .start(command, *, sudo=False, env=None, timeout=None) -> running command:
            .send(bytes) / .send_in_background(bytes), then .finish() -> (stdout, stderr, exit code)
        .wrap(command, *, sudo=False, env=None) -> the command line sent (never holds a password)
        .connected, .alive(grace)      is the link up
        .close()                       also a context manager
    Result(exit_code, stdout, stderr)  .ok is exit_code == 0
    quote_argv(["ls", "-l", path]) -> str   every value that reaches a shell goes through this
    run_parallel(items, fn, forks=10) -> {item: fn(item) or the exception it raised}
    ConnectionPool(specs, *, accept_new_host_keys=False)  .get(name), .close_all()

Errors: Unreachable (cannot connect, host key refused, authentication failed,
link lost: the runner reports the host unreachable and goes on with the others),
CommandTimeout, BecomeFailed (sudo refused the password); put_* raise
transfer.TransferError when the host refuses the file (permissions, no such
directory, disk full). Connecting: connect timeout from the spec, up to
`retries` more tries with exponential backoff on refused/reset/cut handshakes
(never after a timeout: that host is down); keepalives every spec.keepalive s;
TCP_USER_TIMEOUT = link_timeout, so a dead link fails a command within it
instead of hanging for the kernel's minutes.

`command` is a shell command line run by the login shell of the remote user;
with sudo=True it runs under `sh -c` as the become user. sudo never sees the
password in argv: it reads it from the channel after it prompts (`sudo -S -p
MARKER`), and only then does the caller's stdin follow, so a sudo that needs no
password never swallows a line of it.
"""

from __future__ import annotations

import concurrent.futures
import errno
import functools
import logging
import os
import re
import secrets
import select
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, TypeVar

import paramiko

from y7deploy.fleet import hostkeys
from y7deploy.fleet.errors import CommandTimeout, Unreachable
from y7deploy.fleet.hostspec import DEFAULT_IDENTITIES, HostSpec
from y7deploy.fleet.shell import quote, quote_argv
from y7deploy.fleet.transfer import Transfer

__all__ = ["BecomeFailed", "CommandTimeout", "Connection", "ConnectionPool", "Result", "Unreachable",
           "quote_argv", "run_parallel"]

log = logging.getLogger(__name__)
# paramiko logs a failed handshake from its transport thread as an error with a traceback,
# once per try; with no handler configured Python would print those on stderr. The reason
# reaches the user as the host's Unreachable (one line, and in --json); `-vv` shows paramiko's log.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

WINDOW_SIZE = 16 * 1024 * 1024  # how much the host may send us before we acknowledge (get, big outputs)
READ_CHUNK = 1 << 20
STDIN_INLINE = 1 << 20  # more stdin than this is fed from a thread while the output is read
# AES-GCM first: one AEAD call per packet, no separate HMAC pass in Python.
PREFERRED_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr")
LINK_TIMEOUT = 20.0  # seconds of unacknowledged data (TCP_USER_TIMEOUT) before the link counts as lost

T = TypeVar("T")


class BecomeFailed(Exception):
    """sudo rejected the become password (or asked for one we don't have)."""


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Connection:
    """A lazily opened SSH connection to one host. Safe to share between threads."""

    def __init__(
        self,
        spec: HostSpec,
        *,
        accept_new_host_keys: bool = False,
        connect_timeout: float | None = None,
        retries: int = 2,
        backoff: float = 0.3,
        link_timeout: float = LINK_TIMEOUT,
    ) -> None:
        if connect_timeout is not None:
            spec = replace(spec, connect_timeout=connect_timeout, jump=tuple(
                replace(j, connect_timeout=connect_timeout) for j in spec.jump))
        self.spec = spec
        self.name = spec.name
        self.accept_new = accept_new_host_keys or spec.strict_host_key_checking == "accept-new"
        self.retries = retries
        self.backoff = backoff
        self.link_timeout = link_timeout
        self._transport: paramiko.Transport | None = None
        self._jumps: list[Connection] = []
        self._lock = threading.Lock()
        self._marker = secrets.token_hex(8)

    def __repr__(self) -> str:
        state = "open" if self.connected else "closed"
        return f"<Connection {self.spec} {state}>"

    def __enter__(self) -> "Connection":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._transport is not None and self._transport.is_active()

    # -- connecting ------------------------------------------------------------------------

    def open(self) -> "Connection":
        """Connect, verify the host key, authenticate. Raises Unreachable. Idempotent."""
        with self._lock:
            if self.connected:
                return self
            if self._transport is not None:
                raise Unreachable(self.name, "connection lost earlier in this run")
            attempt = 0
            while True:
                try:
                    self._transport = self._connect_once(self._jump_transport())
                    return self
                except _Retryable as exc:
                    log.debug("%s: try %d of %d: %s", self.name, attempt + 1, self.retries + 1, exc)
                    if attempt >= self.retries:
                        raise Unreachable(self.name, str(exc)) from None
                    time.sleep(self.backoff * (2**attempt))
                    attempt += 1

    def _policy(self, spec: HostSpec) -> hostkeys.KnownHostsPolicy:
        return hostkeys.KnownHostsPolicy(spec.known_hosts_files, spec.record_known_hosts_to, self.accept_new)

    def _socket(self, via: paramiko.Transport | None) -> Any:
        spec = self.spec
        if via is not None:
            try:
                return via.open_channel("direct-tcpip", (spec.host, spec.port), ("127.0.0.1", 0),
                                        timeout=spec.connect_timeout)
            except paramiko.ChannelException as exc:
                raise Unreachable(self.name, f"jump host cannot reach {spec.host}:{spec.port}: {exc}") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise Unreachable(self.name, f"jump host failed: {exc}") from None
        if spec.proxy_command:
            # %h/%p/%r are quoted: an inventory value never becomes shell syntax
            values = {"h": spec.host, "p": str(spec.port), "r": spec.user}
            command = re.sub("%([hpr%])", lambda m: "%" if m.group(1) == "%" else quote(values[m.group(1)]),
                             spec.proxy_command)
            return paramiko.ProxyCommand(command)
        log.debug("%s: connecting to %s:%s", self.name, spec.host, spec.port)
        try:
            sock = socket.create_connection((spec.host, spec.port), timeout=spec.connect_timeout)
        except socket.timeout:
            raise Unreachable(self.name, f"connect to {spec.host}:{spec.port} timed out after "
                              f"{spec.connect_timeout:g}s") from None
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ECONNRESET, errno.EAGAIN):
                raise _Retryable(f"connect to {spec.host}:{spec.port}: {exc.strerror}") from None
            raise Unreachable(self.name, f"connect to {spec.host}:{spec.port}: {exc.strerror or exc}") from None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(self.link_timeout * 1000))
        return sock

    def _jump_transport(self) -> paramiko.Transport | None:
        """Connect the ProxyJump hops in turn, each through the one before; kept open with ours."""
        if not self.spec.jump:
            return None
        alive = self._jumps and all(hop.connected for hop in self._jumps)
        if not alive:
            for hop in self._jumps:
                hop.close()
            self._jumps = []
            via = None
            for hop_spec in self.spec.jump:
                hop = Connection(replace(hop_spec, jump=()), accept_new_host_keys=self.accept_new, retries=0)
                try:
                    hop._transport = hop._connect_once(via)
                except _Retryable as exc:
                    raise Unreachable(self.name, f"jump host {hop_spec.host}: {exc}") from None
                except Unreachable as exc:
                    raise Unreachable(self.name, f"jump host {exc}") from None
                self._jumps.append(hop)
                via = hop._transport
        return self._jumps[-1]._transport

    def _connect_once(self, via: paramiko.Transport | None = None) -> paramiko.Transport:
        spec = self.spec
        sock = self._socket(via)
        transport = paramiko.Transport(sock, default_window_size=WINDOW_SIZE)
        try:
            options = transport.get_security_options()
            options.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in options.ciphers) + tuple(
                c for c in options.ciphers if c not in PREFERRED_CIPHERS)
            policy = self._policy(spec)
            known = hostkeys.known_keys(policy, spec.host, spec.port, spec.host_key_alias)
            options.key_types = hostkeys.preferred_key_types(known, options.key_types)
            try:
                transport.start_client(timeout=spec.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise _Retryable(f"SSH handshake with {spec.host}:{spec.port} failed: {exc or type(exc).__name__}")
            key = transport.get_remote_server_key()
            try:
                if hostkeys.verify(policy, spec.name, spec.host, spec.port, key, spec.host_key_alias):
                    log.warning("%s: recorded new host key %s in %s", spec.name, hostkeys.key_label(key),
                                policy.record_to)
            except hostkeys.HostKeyError as exc:
                raise Unreachable(spec.name, str(exc)) from None
            _authenticate(transport, spec)
            if spec.keepalive > 0:
                transport.set_keepalive(max(1, int(spec.keepalive)))
            return transport
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
            for hop in reversed(self._jumps):
                if hop._transport is not None:
                    hop._transport.close()
            self._jumps = []
            self._transport = None

    # -- commands --------------------------------------------------------------------------

    def _channel(self, timeout: float | None) -> paramiko.Channel:
        if not self.connected:
            self.open()
        assert self._transport is not None
        try:
            return self._transport.open_session(timeout=timeout or self.spec.connect_timeout)
        except paramiko.ChannelException:
            raise  # the host refused one more session (MaxSessions): not a dead link
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self.alive():
                raise
            self._lost(exc)
            raise  # not reached: _lost raises

    def alive(self, grace: float = 1.0) -> bool:
        """Is the link up? paramiko closes a dying transport's channels a moment before it
        marks itself inactive, so after a channel failure give it `grace` seconds to say."""
        deadline = time.monotonic() + grace
        while self.connected:
            if time.monotonic() >= deadline:
                return True
            time.sleep(0.02)
        return False

    def _lost(self, exc: BaseException | None = None) -> None:
        reason = f"connection lost ({exc})" if exc else "connection lost"
        raise Unreachable(self.name, reason)

    def wrap(self, command: str, *, sudo: bool = False, env: Mapping[str, Any] | None = None) -> str:
        """The command line actually executed (without any password): env exports, then sudo."""
        if env:
            exports = " ".join(f"{_env_name(k)}={quote(v)}" for k, v in env.items())
            command = f"export {exports}; {command}"
        if not sudo or self._already_become_user():
            return command
        user = quote(self.spec.become_user)
        if self.spec.become_password is None:
            return f"sudo -H -n -u {user} -- sh -c {quote(command)}"
        inner = f"echo {self._ok_marker}>&2; {command}"
        return f"sudo -H -S -p {quote(self._prompt)} -u {user} -- sh -c {quote(inner)}"

    @property
    def _prompt(self) -> str:
        return f"[y7deploy-sudo-{self._marker}]"

    @property
    def _ok_marker(self) -> str:
        return f"Y7DEPLOY-BECOME-OK-{self._marker}"

    def _already_become_user(self) -> bool:
        return self.spec.user == self.spec.become_user

    def start(self, command: str, *, sudo: bool = False, env: Mapping[str, Any] | None = None,
              timeout: float | None = None) -> "_Running":
        """Start a command and get past sudo's prompt; the caller then streams stdin and calls finish()."""
        chan = self._channel(timeout)
        try:
            chan.exec_command(self.wrap(command, sudo=sudo, env=env))
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            if self.alive():
                raise
            self._lost(exc)
        running = _Running(self, chan, timeout)
        if sudo and not self._already_become_user() and self.spec.become_password is not None:
            running.become(self._prompt, self._ok_marker, self.spec.become_password)
        return running

    def run(self, command: str, *, sudo: bool = False, stdin: bytes | str | None = None,
            timeout: float | None = None, env: Mapping[str, Any] | None = None) -> Result:
        """Run one shell command line; returns its exit code and output (decoded as UTF-8).

        Raises Unreachable if the link is lost, CommandTimeout after `timeout` seconds,
        BecomeFailed if sudo refuses the password.
        """
        running = self.start(command, sudo=sudo, env=env, timeout=timeout)
        data = stdin.encode() if isinstance(stdin, str) else stdin
        if data and len(data) > STDIN_INLINE:
            running.send_in_background(data)  # a command may answer before it has read it all
        elif data:
            running.send(data)
        out, err, code = running.finish()
        return Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    # -- files -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes, remote: str, *, mode: int | str | None = None, sudo: bool = False) -> bool:
        """Make `remote` hold exactly `data`; True if anything changed. See fleet/transfer.py."""
        return Transfer(self).put_bytes(data, remote, mode=mode, sudo=sudo)

    def put_file(self, local: str | os.PathLike, remote: str, *, mode: int | str | None = None,
                 sudo: bool = False) -> bool:
        """Make `remote` a copy of the local file; True if anything changed. See fleet/transfer.py."""
        return Transfer(self).put_file(local, remote, mode=mode, sudo=sudo)

    def get_bytes(self, remote: str, *, sudo: bool = False, timeout: float | None = None) -> bytes:
        """The content of a remote file. Raises FileNotFoundError if it cannot be read."""
        running = self.start(quote_argv(["cat", "--", remote]), sudo=sudo, timeout=timeout)
        out, err, code = running.finish()
        if code != 0:
            raise FileNotFoundError(f"{self.name}:{remote}: {err.decode('utf-8', 'replace').strip()}")
        return out

    def get(self, remote: str, local: str | os.PathLike, *, sudo: bool = False) -> None:
        """Copy a remote file to a local path (written to a temp name, then renamed)."""
        data = self.get_bytes(remote, sudo=sudo)
        target = Path(local)
        tmp = target.with_name(f".{target.name}.y7tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)


def _env_name(name: str) -> str:
    if not name.replace("_", "a").isalnum() or name[0].isdigit():
        raise ValueError(f"invalid environment variable name {name!r}")
    return name


class _Retryable(Exception):
    """A connect failure worth another try (refused, reset, handshake cut short)."""


class _Running:
    """A started command: stream stdin into it, then collect its output."""

    def __init__(self, conn: Connection, chan: paramiko.Channel, timeout: float | None) -> None:
        self.conn = conn
        self.chan = chan
        self.deadline = time.monotonic() + timeout if timeout else None
        self.err_prefix = b""
        self.stdin_closed = False
        self.feeder: threading.Thread | None = None
        self.feed_error: BaseException | None = None

    def _remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.chan.close()
            raise CommandTimeout(f"{self.conn.name}: command timed out")
        return left

    def become(self, prompt: str, ok_marker: str, password: str) -> None:
        """Answer sudo's prompt once; return when the command itself has started."""
        buf = b""
        prompt_b, ok_b = prompt.encode(), ok_marker.encode()
        answered = False
        while True:
            idx = buf.find(ok_b)
            if idx >= 0:
                rest = buf[idx + len(ok_b):]
                self.err_prefix = rest[1:] if rest.startswith(b"\n") else rest
                # sudo's own chatter before our marker (lecture, prompt) is not the command's stderr
                return
            if prompt_b in buf:
                if answered:
                    self.chan.close()
                    raise BecomeFailed(f"{self.conn.name}: sudo rejected the become password")
                self.chan.sendall(password.encode() + b"\n")
                answered = True
                buf = buf.replace(prompt_b, b"", 1)
                continue
            self._wait()
            chunk = self.chan.recv_stderr(READ_CHUNK) if self.chan.recv_stderr_ready() else b""
            if not chunk and (self.chan.closed or self.chan.exit_status_ready()):
                if self.chan.exit_status == -1 and not self.conn.alive():
                    self.conn._lost()
                # sudo ended without running the command: keep what it said as the result
                self.err_prefix = buf
                return
            buf += chunk

    def _wait(self) -> None:
        if self.chan.recv_ready() or self.chan.recv_stderr_ready() or self.chan.closed:
            return
        ready, _, _ = select.select([self.chan], [], [], self._remaining())
        if not ready:
            self._remaining()  # raises when the deadline passed

    def send(self, data: bytes | memoryview) -> None:
        """Feed the command's stdin. If the command stopped reading (it exited, say on a full
        disk), the rest is dropped and finish() reports what it said; a dead link raises."""
        if self.stdin_closed:
            return
        try:
            # a memoryview: paramiko's sendall re-slices what is left after every 32 KiB
            # packet, which copies a bytes object over and over (minutes for 40 MB)
            self.chan.sendall(memoryview(data))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            if not self.conn.alive():
                self.conn._lost(exc)
            self.stdin_closed = True

    def send_in_background(self, data: bytes) -> None:
        """Feed stdin from a thread and close it, while finish() reads: a command that writes
        while it reads (cat, tee) cannot then fill both windows and stall us both."""

        def feed() -> None:
            try:
                self.send(data)
            except BaseException as exc:  # noqa: BLE001 - handed to finish()
                self.feed_error = exc
            self._close_stdin()

        self.feeder = threading.Thread(target=feed, daemon=True)
        self.feeder.start()

    def _close_stdin(self) -> None:
        try:
            self.chan.shutdown_write()
        except (OSError, EOFError):
            pass

    def finish(self) -> tuple[bytes, bytes, int]:
        """Close stdin, read stdout and stderr to the end, return (stdout, stderr, exit code)."""
        chan = self.chan
        if self.feeder is None:
            self._close_stdin()
        out: list[bytes] = []
        err: list[bytes] = [self.err_prefix]
        while True:
            while chan.recv_ready():
                out.append(chan.recv(READ_CHUNK))
            while chan.recv_stderr_ready():
                err.append(chan.recv_stderr(READ_CHUNK))
            if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
                break
            self._wait()
        if not chan.status_event.wait(self._remaining()):
            self._remaining()
        code = chan.exit_status if chan.exit_status_ready() else -1
        chan.close()
        if self.feeder is not None:
            self.feeder.join()
            if self.feed_error is not None:
                raise self.feed_error
        if code == -1 and not self.conn.alive():
            self.conn._lost()
        return b"".join(out), b"".join(err), code


@functools.lru_cache(maxsize=64)
def _load_key(path: str, mtime_ns: int) -> paramiko.PKey | None:
    try:
        return paramiko.PKey.from_path(path)
    except paramiko.PasswordRequiredException:
        log.warning("skipping passphrase-protected key %s (use ssh-agent)", path)
    except (OSError, paramiko.SSHException, ValueError) as exc:
        log.warning("cannot load key %s: %s", path, exc)
    return None


def _candidate_keys(spec: HostSpec) -> list[paramiko.PKey]:
    paths = list(spec.key_files)
    if spec.look_for_default_keys:
        paths += [p for p in DEFAULT_IDENTITIES if p not in paths]
    keys: list[paramiko.PKey] = []
    for raw in paths:
        path = os.path.expanduser(raw)
        try:
            mtime = os.stat(path).st_mtime_ns
        except OSError:
            continue
        key = _load_key(path, mtime)
        if key is not None:
            keys.append(key)
    if os.environ.get("SSH_AUTH_SOCK"):
        try:
            keys.extend(paramiko.Agent().get_keys())
        except paramiko.SSHException:
            pass
    return keys


def _authenticate(transport: paramiko.Transport, spec: HostSpec) -> None:
    for key in _candidate_keys(spec):
        try:
            transport.auth_publickey(spec.user, key)
            return
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(spec.name, f"authentication as {spec.user} interrupted: {exc}") from None
    if spec.password is not None:
        try:
            transport.auth_password(spec.user, spec.password)
            return
        except paramiko.AuthenticationException:
            pass
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise Unreachable(spec.name, f"authentication as {spec.user} interrupted: {exc}") from None
    tried = ", ".join(spec.key_files) or "default keys"
    raise Unreachable(spec.name, f"authentication as {spec.user} failed (tried {tried}"
                      f"{' and a password' if spec.password is not None else ''})")


# -- many hosts ------------------------------------------------------------------------------


def run_parallel(items: Iterable[T], fn: Callable[[T], Any], forks: int = 10) -> dict[T, Any]:
    """fn(item) for every item, at most `forks` at a time; {item: result or the exception raised}.

    Order of the dict follows `items`. Exceptions are returned, not raised, so one host's
    failure never stops the others.
    """
    items = list(items)
    results: dict[T, Any] = {}
    if not items:
        return results
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(forks, len(items)))) as pool:
        futures = {item: pool.submit(fn, item) for item in items}
        for item in items:
            try:
                results[item] = futures[item].result()
            except Exception as exc:  # noqa: BLE001 - handed back to the caller per item
                results[item] = exc
    return results


class ConnectionPool:
    """One Connection per host name for a whole run, opened on first use, closed together."""

    def __init__(self, specs: Mapping[str, HostSpec], *, accept_new_host_keys: bool = False,
                 connect_timeout: float | None = None) -> None:
        self.specs = dict(specs)
        self.accept_new_host_keys = accept_new_host_keys
        self.connect_timeout = connect_timeout
        self._conns: dict[str, Connection] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Connection:
        """The host's connection (not yet opened: the first command or .open() connects)."""
        with self._lock:
            if name not in self._conns:
                self._conns[name] = Connection(self.specs[name], accept_new_host_keys=self.accept_new_host_keys,
                                               connect_timeout=self.connect_timeout)
            return self._conns[name]

    def close_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
        for conn in conns:
            conn.close()

    def __enter__(self) -> "ConnectionPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

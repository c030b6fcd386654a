"""Run the softphone's SIP server (Kamailio) and TURN relay (coturn) for the demo and the tests.

`SipServer(...)` writes Kamailio's settings file (mode 0600: it holds the secret, which never
goes on a command line), starts `kamailio -DD -E` in the foreground with the repository's
configuration, and optionally coturn, waits until they accept connections, and stops them.
Production runs Kamailio and coturn as system services with the same configuration files; see
the comments at the top of deploy/kamailio/kamailio.cfg and deploy/coturn/turnserver.conf.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

KAMAILIO = "/usr/sbin/kamailio"
TURNSERVER = "/usr/bin/turnserver"
# The Debian packages these modules come in, besides `kamailio` itself.
MODULES = {
    "websocket.so": "kamailio-websocket-modules",
    "auth_ephemeral.so": "kamailio-autheph-modules",
}
MODULE_DIRS = ("/usr/lib/x86_64-linux-gnu/kamailio/modules", "/usr/lib/kamailio/modules")
PACKAGES = "kamailio kamailio-websocket-modules kamailio-autheph-modules coturn"

DOMAIN = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
# Kamailio reads the secret inside a double-quoted string, coturn to the end of a line with "#"
# starting a comment: characters of base64 and of URL-safe tokens need no quoting in either.
SECRET = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class SipServerError(RuntimeError):
    """Kamailio or coturn could not be started; the message says why and where the log is."""


def config_dir() -> Path:
    """The folder holding kamailio/kamailio.cfg and coturn/turnserver.conf.

    $PORTAL_SIP_CONFIG_DIR when set, else the repository's deploy/ folder (this file sits in
    src/portal/phone/). The one place to change when the configuration moves."""
    if explicit := os.environ.get("PORTAL_SIP_CONFIG_DIR"):
        return Path(explicit)
    return Path(__file__).resolve().parents[3] / "deploy"


def kamailio_config() -> Path:
    return config_dir() / "kamailio" / "kamailio.cfg"


def turnserver_config() -> Path:
    return config_dir() / "coturn" / "turnserver.conf"


def available(*, turn: bool = False) -> str | None:
    """None when Kamailio (and coturn, with `turn=True`) can run here, else why not."""
    missing = []
    if not os.access(KAMAILIO, os.X_OK):
        missing.append(f"{KAMAILIO} (package kamailio)")
    for module, package in MODULES.items():
        if not any(Path(folder, module).exists() for folder in MODULE_DIRS):
            missing.append(f"Kamailio's {module} (package {package})")
    if turn and not os.access(TURNSERVER, os.X_OK):
        missing.append(f"{TURNSERVER} (package coturn)")
    if not kamailio_config().exists():
        missing.append(f"the configuration {kamailio_config()}")
    if missing:
        return f"missing {', '.join(missing)}: apt-get install {PACKAGES} (make sip-server)"
    return None


def netns_connect(netns: str, host: str, port: int, timeout: float = 2.0) -> socket.socket:
    """A TCP connection to host:port inside the network namespace `netns`.

    A namespace belongs to a thread, and a socket to the namespace it was made in: a helper
    thread enters the namespace and connects, and the socket keeps working from any thread."""
    result: list[socket.socket | OSError] = []

    def enter_and_connect() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            with open(f"/run/netns/{netns}") as handle:
                if libc.setns(handle.fileno(), 0x40000000) != 0:  # CLONE_NEWNET
                    raise OSError(ctypes.get_errno(), f"cannot enter network namespace {netns}")
            result.append(socket.create_connection((host, port), timeout=timeout))
        except OSError as exc:  # handed to the caller's thread, raised there
            result.append(exc)

    thread = threading.Thread(target=enter_and_connect, name=f"netns-{netns}")
    thread.start()
    thread.join()
    if not result:
        raise OSError(f"cannot connect to {host}:{port} in network namespace {netns}")
    if isinstance(result[0], OSError):
        raise result[0]
    return result[0]


class SipServer:
    """Kamailio on `ws://ws_host:ws_port` for `domain`, and coturn on `turn_port` if given.

    `netns` runs both inside that network namespace (`ip netns exec`), for the tests.
    `test_mode` lets coturn relay to loopback peers, which production must refuse.
    `ws_origin` (e.g. the portal's base URL) is the only page origin allowed to connect.
    Timers are in milliseconds: `ring_ms` is how long a call rings before "480 No Answer".
    """

    def __init__(
        self,
        *,
        domain: str,
        secret: str,
        runtime_dir: Path,
        ws_host: str = "127.0.0.1",
        ws_port: int = 8088,
        turn_port: int | None = None,
        netns: str | None = None,
        test_mode: bool = False,
        ws_origin: str | None = None,
        ring_ms: int = 30_000,
        answer_ms: int = 10_000,
        workers: int = 2,
        startup_seconds: float = 15.0,
    ) -> None:
        if not DOMAIN.fullmatch(domain):
            raise ValueError(f"not a SIP domain: {domain!r}")
        if not SECRET.fullmatch(secret):
            raise ValueError(
                "the SIP secret must be 16 to 256 characters of A-Z a-z 0-9 . _ ~ + / = -"
                " (e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        if not 0 < answer_ms <= ring_ms:
            # tm switches to the ringing timer on "180 Ringing" only when it is the longer one.
            raise ValueError(f"answer_ms ({answer_ms}) must be positive and at most ring_ms")
        if ws_origin is not None and not ORIGIN.fullmatch(ws_origin):
            raise ValueError(f"not an origin: {ws_origin!r}")
        self.domain = domain
        self._secret = secret
        self.runtime_dir = runtime_dir
        self.ws_host = ws_host
        self.ws_port = ws_port
        self.turn_port = turn_port
        self.netns = netns
        self.test_mode = test_mode
        self.ws_origin = ws_origin
        self.ring_ms = ring_ms
        self.answer_ms = answer_ms
        self.workers = workers
        self.startup_seconds = startup_seconds
        self.kamailio_log = runtime_dir / "kamailio.log"
        self.turn_log = runtime_dir / "turnserver.log"
        self._processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    @property
    def ws_url(self) -> str:
        return f"ws://{self.ws_host}:{self.ws_port}"

    @property
    def turn_urls(self) -> list[str]:
        if self.turn_port is None:
            return []
        where = f"{self.ws_host}:{self.turn_port}"
        return [f"turn:{where}?transport=udp", f"turn:{where}?transport=tcp"]

    # --- running ---------------------------------------------------------------------------

    def __enter__(self) -> SipServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start Kamailio (and coturn); returns once they accept connections."""
        if reason := available(turn=self.turn_port is not None):
            raise SipServerError(reason)
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._write_private(self.runtime_dir / "kamailio-local.cfg", self._kamailio_local())
            self._spawn(
                "Kamailio",
                [KAMAILIO, "-DD", "-E", "-f", str(kamailio_config())],
                self.kamailio_log,
            )
            if self.turn_port is not None:
                conf = self.runtime_dir / "turnserver.conf"
                self._write_private(conf, self._turnserver_conf())
                self._spawn("coturn", self._turnserver_command(conf), self.turn_log)
            self._wait_listening("Kamailio", self.ws_port, self.kamailio_log)
            if self.turn_port is not None:
                self._wait_listening("coturn", self.turn_port, self.turn_log)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop whatever runs; safe to call twice."""
        while self._processes:
            _, process, _ = self._processes.pop()
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def log(self, last: int = 6000) -> str:
        """The end of Kamailio's log, for a failing test's message."""
        try:
            return self.kamailio_log.read_text(errors="replace")[-last:]
        except FileNotFoundError:
            return ""

    # --- the pieces ------------------------------------------------------------------------

    def _kamailio_local(self) -> str:
        lines = [
            f'#!define SIP_DOMAIN "{self.domain}"',
            f'#!define SIP_SECRET "{self._secret}"',
            f"#!define WS_LISTEN tcp:{self.ws_host}:{self.ws_port}",
            f"#!define FR_TIMER {self.answer_ms}",
            f"#!define FR_INV_TIMER {self.ring_ms}",
            f"#!define TCP_CHILDREN {self.workers}",
        ]
        if self.ws_origin is not None:
            lines.append(f'#!define WS_ORIGIN "{self.ws_origin}"')
        return "\n".join(lines) + "\n"

    def _turnserver_conf(self) -> str:
        # coturn has no include: the committed file, then the secret, in a private copy.
        committed = turnserver_config().read_text()
        return f"{committed}\n# Added by the launcher\nstatic-auth-secret={self._secret}\n"

    def _turnserver_command(self, conf: Path) -> list[str]:
        command = [
            TURNSERVER,
            "-c",
            str(conf),
            f"--listening-ip={self.ws_host}",
            f"--relay-ip={self.ws_host}",
            f"--listening-port={self.turn_port}",
            f"--realm={self.domain}",
            f"--pidfile={self.runtime_dir / 'turnserver.pid'}",
            f"--userdb={self.runtime_dir / 'turndb'}",
            "--log-file=stdout",
            "--no-tls",
            "--no-dtls",
        ]
        if self.test_mode:
            command.append("--allow-loopback-peers")
        return command

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        path.unlink(missing_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)

    def _spawn(self, name: str, command: Sequence[str], log_path: Path) -> None:
        if self.netns is not None:
            command = ["ip", "netns", "exec", self.netns, *command]
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - fixed binaries, arguments checked above
                command,
                cwd=self.runtime_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._processes.append((name, process, log_path))

    def _connect(self, port: int) -> socket.socket:
        if self.netns is not None:
            return netns_connect(self.netns, self.ws_host, port, timeout=1)
        return socket.create_connection((self.ws_host, port), timeout=1)

    def _wait_listening(self, name: str, port: int, log_path: Path) -> None:
        deadline = time.monotonic() + self.startup_seconds
        while True:
            for other, process, other_log in self._processes:
                if process.poll() is not None:
                    raise SipServerError(
                        f"{other} exited with status {process.returncode}; see {other_log}:\n"
                        + other_log.read_text(errors="replace")[-3000:]
                    )
            try:
                self._connect(port).close()
                return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SipServerError(
                    f"{name} did not accept connections on {self.ws_host}:{port} within"
                    f" {self.startup_seconds:.0f}s; see {log_path}"
                )
            time.sleep(0.05)

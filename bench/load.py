"""Load from Debian's `wrk`: run it, parse its summary (requests/s and latency percentiles)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LATENCY = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)


class LoadError(RuntimeError):
    """wrk is missing or failed; the message says what to do."""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    bad_status: int  # responses outside 2xx/3xx
    socket_errors: int


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise LoadError("wrk is missing: `make bench` installs it as root, or apt-get install wrk")
    return found


def lua_string(value: str) -> str:
    """A Lua string literal; our values are cookies, tokens and form bodies (plain ASCII)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rotating_script(path: Path, requests: list[tuple[str, str, dict[str, str], str]]) -> Path:
    """A wrk script sending `requests` (method, path, headers, body) in turn, per thread.

    Each wrk thread has its own Lua state, so callers use one thread when every request must be
    sent at most once (single-use sign-in forms).
    """
    rows = []
    for method, target, headers, body in requests:
        pairs = ", ".join(f"[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items())
        rows.append(
            f"{{{lua_string(method)}, {lua_string(target)}, {{{pairs}}}, {lua_string(body)}}}"
        )
    path.write_text(
        "local requests = {\n  "
        + ",\n  ".join(rows)
        + "\n}\nlocal i = 0\n"
        + "request = function()\n"
        + "  i = (i % #requests) + 1\n"
        + "  local r = requests[i]\n"
        + "  return wrk.format(r[1], r[2], r[3], r[4] ~= '' and r[4] or nil)\n"
        + "end\n"
    )
    return path


def wrk_command(
    url: str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
) -> list[str]:
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    return [*command, url]


def parse(output: str) -> Load:
    """wrk's summary: `Requests/sec:`, the `--latency` distribution, error lines."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if rps is None or total is None:
        raise LoadError(f"unexpected wrk output:\n{output}")
    latency = {p: float(v) * _UNITS[u] for p, v, u in _LATENCY.findall(output)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return Load(
        rps=float(rps.group(1)),
        p50_ms=latency.get("50", float("nan")),
        p99_ms=latency.get("99", float("nan")),
        requests=int(total.group(1)),
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def run(command: list[str]) -> Load:
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise LoadError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    return parse(done.stdout)


def start(command: list[str]) -> subprocess.Popen[str]:
    """wrk in the background (the sign-in storm beside a measured run)."""
    return subprocess.Popen(  # noqa: S603
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str]) -> Load:
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise LoadError(f"wrk failed ({process.returncode}): {err or out}")
    return parse(out)


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a server started for a case: SIGTERM, then SIGKILL if it has not gone in 15 s."""
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)

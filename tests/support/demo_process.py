"""``vigil demo`` as a child process for integration tests: its console read line by line,
waits for the dashboard URL, the first alarm and the dashboard answering, and a SIGINT stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

URL = re.compile(r"Dashboard: (http://\S+/dashboard/)#token=(\S+)")
ALARM = re.compile(r"^\d\d:\d\d:\d\d ALARM ")


class DemoProcess:
    """Runs ``command`` (a ``vigil demo`` invocation) with ``cwd``; keeps its output in
    ``lines`` (and in ``log``)."""

    def __init__(self, command: Sequence[str] | str, cwd: Path, log: Path,
                 env: dict[str, str] | None = None, shell: bool = False) -> None:
        self.lines: list[str] = []
        self.log = log
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            command, cwd=cwd, shell=shell, env=env or dict(os.environ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            text=True, bufsize=1, start_new_session=True,
            executable="/bin/bash" if shell else None)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("a", encoding="utf-8") as copy:
            for line in self.process.stdout:
                copy.write(line)
                copy.flush()
                with self._changed:
                    self.lines.append(line.rstrip("\n"))
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> re.Match[str]:
        """The first output line matching ``pattern``; AssertionError on timeout or exit."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    found = pattern.search(line)
                    if found:
                        return found
                seen = len(self.lines)
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"the demo exited ({self.process.returncode}) "
                                         f"before {pattern.pattern!r}; see {self.log}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {pattern.pattern!r} within {timeout:.0f} s; "
                                         f"see {self.log}")
                self._changed.wait(min(left, 1.0))

    def dashboard_url(self, timeout: float) -> str:
        return self.wait_for(URL, timeout).group(1)

    def dashboard_token(self, timeout: float) -> str:
        """The read token the demo printed with its dashboard URL."""
        return self.wait_for(URL, timeout).group(2)

    def wait_answering(self, url: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.5)  # poll interval
        raise AssertionError(f"{url} did not answer 200 within {timeout:.0f} s; see {self.log}")

    def interrupt(self, timeout: float = 30) -> int:
        """SIGINT to the process group, as Ctrl-C sends it; the exit status (AssertionError
        if it hangs)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the demo did not stop within {timeout:.0f} s of SIGINT; "
                                 f"see {self.log}") from None
        self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        """Last resort: the demo's whole process group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

"""What a person sees: commands run in a pseudo-terminal (a real tty: isatty, width, colours) or as
plain subprocesses, with environments free of the developer's own PDO_* variables."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import create_scratch, drop_scratch

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
CLI = [sys.executable, "-m", "pdo_graph.cli"]


def clean_env(**settings: str) -> dict[str, str]:
    """The process environment without PDO_* variables, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PDO_")}
    env.update(settings)
    return env


def run(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


class Terminal:
    """A command on a pseudo-terminal 160 columns wide; what it writes is collected as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        self._master = master
        self._raw = bytearray()
        self.proc = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm-256color"}, cwd=cwd
        )
        os.close(slave)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self._raw.extend(chunk)

    def text(self) -> str:
        """What a person would read: without colours and cursor moves, spinner frames overwritten."""
        plain = ANSI.sub("", self._raw.decode("utf-8", errors="replace"))
        return "\n".join(line.rsplit("\r", 1)[-1] for line in plain.replace("\r\n", "\n").split("\n"))

    def raw(self) -> str:
        return self._raw.decode("utf-8", errors="replace")

    def wait_for(self, marker: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.text():
                return self.text()
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the last output
                break
            time.sleep(0.1)
        raise AssertionError(f"{marker!r} did not appear; the terminal shows:\n{self.text()}")

    def interrupt(self) -> None:
        """Ctrl-C: the terminal sends SIGINT to the foreground process."""
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        os.close(self._master)


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[str]:
    """An empty database of its own on the test server (as a newcomer's is), dropped afterwards: its URL."""
    name, url = asyncio.run(create_scratch(database_url))
    try:
        yield url
    finally:
        asyncio.run(drop_scratch(database_url, name))

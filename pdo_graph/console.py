"""What a person at a terminal sees while a command works: one line per step, a spinner with
progress while it runs. Without a terminal (or with JSON logs) each finished step is one log line.

Steps go to stderr, next to the logs; what a command prints as its result goes to stdout.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pdo_graph.observability import text_logs

log = logging.getLogger("pdo_graph")


class Step:
    """A step under way: ``update`` shows progress, ``done`` is the line written when it ends."""

    def __init__(self, doing: str, status: Any | None) -> None:
        self.doing = doing
        self.done = doing
        self.warning: str | None = None
        self._status = status

    def update(self, detail: str) -> None:
        if self._status is not None:
            self._status.update(f"{self.doing}… {detail}")

    def progress(self, stage: str, done: int, total: int) -> None:
        """A progress callback: ``stage`` (e.g. "families") ``done`` of ``total``."""
        self.update(f"{stage} {done}/{total}")

    def warn(self, message: str) -> None:
        """End the step with a warning instead of the ``done`` line."""
        self.warning = message


class Console:
    """Steps and their progress: rich on a terminal with text logs, log lines otherwise."""

    def __init__(self, interactive: bool | None = None, log_format: str = "auto") -> None:
        if interactive is None:
            interactive = sys.stderr.isatty() and text_logs(log_format)
        self.interactive = interactive
        self._rich: Any = None
        if interactive:
            from rich.console import Console as RichConsole

            self._rich = RichConsole(stderr=True, highlight=False, soft_wrap=True)

    @contextmanager
    def step(self, doing: str) -> Iterator[Step]:
        """Something that takes a moment: ``doing…`` with a spinner, then ``✓ <step.done>  1.2 s``."""
        started = time.perf_counter()
        if not self.interactive:
            step = Step(doing, None)
            yield step
            self._finish(step, time.perf_counter() - started)
            return
        with self._rich.status(f"{doing}…", spinner="dots") as status:
            step = Step(doing, status)
            try:
                yield step
            except BaseException:
                self._rich.print(f"[red]✗[/] {doing}")
                raise
        self._finish(step, time.perf_counter() - started)

    def _finish(self, step: Step, seconds: float) -> None:
        took = f"{seconds:.1f} s"
        if self.interactive:
            if step.warning:
                self._rich.print(f"[yellow]![/] {step.warning}")
            else:
                self._rich.print(f"[green]✓[/] {step.done}  [dim]{took}[/]")
        elif step.warning:
            log.warning("%s", step.warning)
        else:
            log.info("%s (%s)", step.done, took)

    def note(self, message: str) -> None:
        """A line of its own (on a terminal) or an INFO log line."""
        if self.interactive:
            self._rich.print(message, markup=False)
        else:
            log.info("%s", message)

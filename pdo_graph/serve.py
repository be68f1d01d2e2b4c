"""``pdo-graph serve``: claim the port first, prepare the database, serve, and once the server
listens print one summary (the URL, what the database holds, dev tokens of demo subjects).

A port that is taken is found before anything else happens: one line and ``EXIT_PORT``. Ctrl-C or
SIGTERM stop the server gracefully (requests in flight finish), then the embedded PostgreSQL.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import threading
import time
import urllib.request
from argparse import Namespace
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pdo_graph.config import EXIT_INTERRUPTED, EXIT_OK, EXIT_PORT, Settings, SettingsError, StartupError
from pdo_graph.console import Console
from pdo_graph.observability import (
    MULTIPROC_DIR,
    configure_logging,
    mark_worker_dead,
    prepare_multiprocess_dir,
    text_logs,
)
from pdo_graph.startup import DevToken, Overview, dev_tokens, overview, prepare, summary

log = logging.getLogger("pdo_graph")

UVICORN_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_level": None,  # our logging (observability.configure_logging) decides
    "log_config": None,
    "timeout_graceful_shutdown": 20,
    "proxy_headers": False,
}


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options: ours, and for WebSockets the message limit (a bigger frame is refused with 1009
    before it is buffered) and no per-message compression (subscription results are small; deflating
    each one costs the server more CPU than it saves bytes)."""
    return {**UVICORN_OPTIONS, "ws_max_size": settings.ws_max_message_bytes, "ws_per_message_deflate": False}


class CannotListen(StartupError):
    exit_code = EXIT_PORT


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: stop what is under way (cleanup runs on the way out). A KeyboardInterrupt,
    so that event loops pass it on rather than log it."""


_INTERRUPTED = threading.Event()


def _interrupt(signum: int, frame: object) -> None:
    _INTERRUPTED.set()
    raise Interrupted(signum)


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening; the reason in one line when it cannot be."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise SettingsError(f"PDO_HOST: cannot listen on {host!r}: {exc.strerror}") from exc
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise CannotListen(
                f"PDO_PORT: port {port} on {host} is already in use (another pdo-graph?);"
                " stop that process, or choose another port: PDO_PORT=8001 or serve --port 8001"
            ) from exc
        if exc.errno == errno.EADDRNOTAVAIL:
            raise SettingsError(f"PDO_HOST: {host} is not an address of this machine") from exc
        raise CannotListen(f"PDO_PORT: cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def graphql_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/graphql"


def announce(settings: Settings, url: str, found: Overview, tokens: list[DevToken], workers: int = 1) -> None:
    """The summary once the server listens: printed with text logs, one log line with JSON logs
    (never a token in a log)."""
    if text_logs(settings.log_format):
        print(summary(url, found, tokens, workers), flush=True)
    else:
        counts = ", ".join(f"{v} {k}" for k, v in found.counts.items())
        log.info("serving %s%s (database: %s)", url, f" with {workers} workers" if workers > 1 else "", counts)


def cmd_serve(args: Namespace, settings: Settings) -> int:
    if args.with_sync:  # catalog syncs are jobs of the queue: a worker runs here too
        settings = replace(settings, sync_background=True, background_jobs=True)
        os.environ["PDO_SYNC_BACKGROUND"] = "1"  # for worker processes
        os.environ["PDO_BACKGROUND_JOBS"] = "1"
    if args.with_worker:
        settings = replace(settings, background_jobs=True)
        os.environ["PDO_BACKGROUND_JOBS"] = "1"
    console = Console(log_format=settings.log_format)
    sock = listen_socket(settings.host, settings.port)
    url = graphql_url(settings.host, settings.port)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    serving = [False]
    try:
        if args.workers > 1:
            _serve_workers(args, settings, console, sock, url, serving)
        else:
            import uvloop

            uvloop.run(_serve_one(args, settings, console, sock, serving))
    except Interrupted:
        if not serving[0]:
            console.note("interrupted before the server started")
            return EXIT_INTERRUPTED
    except StartupError:
        if not _INTERRUPTED.is_set():
            raise
        console.note("interrupted before the server started")  # what failed was cut off by Ctrl-C
        return EXIT_INTERRUPTED
    finally:
        sock.close()
    return EXIT_OK


def _server(config: Any, on_ready: Callable[[], None]) -> Any:
    """uvicorn's server, calling ``on_ready`` once it accepts requests."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                on_ready()

    return Server(config)


async def _serve_one(
    args: Namespace, settings: Settings, console: Console, sock: socket.socket, serving: list[bool]
) -> None:
    import uvicorn

    from pdo_graph.app import create_app

    db = await prepare(settings, console, migrations=args.migrate, demo=args.demo)
    try:
        found = await overview(db.engine)
        tokens = dev_tokens(settings, found) if settings.auth_mode == "dev" else []
        app = create_app(settings, database=db)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, **uvicorn_options(settings))

        def ready() -> None:
            serving[0] = True
            announce(settings, graphql_url(settings.host, settings.port), found, tokens)

        server = _server(config, ready)
        try:
            await server.serve(sockets=[sock])
        except SystemExit as exc:  # uvicorn's "startup failed" (the application's lifespan refused)
            raise StartupError("the application failed to start: see the log above") from exc
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not leave PostgreSQL running
        embedded = db.embedded is not None
        with console.step("stopping the embedded PostgreSQL" if embedded else "stopping") as step:
            await db.dispose()
            step.done = "stopped"


def _serve_workers(
    args: Namespace, settings: Settings, console: Console, sock: socket.socket, url: str, serving: list[bool]
) -> None:
    """Several uvicorn worker processes on one socket over one database (an embedded one is started
    here, once)."""
    import uvicorn
    import uvloop
    from uvicorn.config import STARTUP_FAILURE

    Supervisor = _supervisor_class()

    async def prepared() -> tuple[Any, str, Overview, list[DevToken]]:
        db = await prepare(settings, console, migrations=args.migrate, demo=args.demo)
        try:
            found = await overview(db.engine)
            tokens = dev_tokens(settings, found) if settings.auth_mode == "dev" else []
        except BaseException:
            await db.dispose()
            raise
        await db.engine.dispose()  # the workers open their own; an embedded server stays up for them
        return db.embedded, db.url, found, tokens

    embedded, db_url, found, tokens = uvloop.run(prepared())
    try:
        os.environ["PDO_DATABASE_URL"] = db_url
        os.environ["PDO_HOST"] = settings.host
        # one scrape of /metrics covers every worker: each writes its values to files here
        os.environ[MULTIPROC_DIR] = str(prepare_multiprocess_dir(settings.data_dir / "metrics"))
        config = uvicorn.Config(
            "pdo_graph.serve:worker_app", factory=True, workers=args.workers, **uvicorn_options(settings)
        )

        def tell_when_ready() -> None:
            probe = graphql_url("127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host, settings.port)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(probe.replace("/graphql", "/healthz"), timeout=1) as answer:
                        if answer.status == 200:
                            serving[0] = True
                            announce(settings, url, found, tokens, args.workers)
                            return
                time.sleep(0.2)

        threading.Thread(target=tell_when_ready, daemon=True).start()
        supervisor = Supervisor(config, sockets=[sock])
        if hasattr(socket, "SO_REUSEPORT"):
            supervisor.own_sockets(sock)
        supervisor.run()
        if any(worker.process.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
            raise StartupError("the workers did not start: see the log above")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if embedded is not None:
            with console.step("stopping the embedded PostgreSQL") as step:
                embedded.stop()
                step.done = "stopped"


def _supervisor_class() -> type:
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, telling the metrics of each worker it replaces (died, or restarted).

        With :meth:`own_sockets`, each worker it starts listens on a socket of its own (``SO_REUSEPORT``,
        the same address): the kernel spreads new connections over the workers. On one shared socket,
        the worker that woke first accepted a whole burst (libuv accepts all that are queued), so the
        keep-alive connections of a proxy's pool or of a benchmark all went to one worker while the
        others idled."""

        _address: tuple[Any, ...] | None = None
        _handed: list[socket.socket]

        def own_sockets(self, shared: socket.socket) -> None:
            """From now on, a socket per worker at ``shared``'s address (which was bound without
            ``SO_REUSEPORT``, so a port in use was told; it is closed here)."""
            self._address = (shared.family, shared.type, shared.proto, shared.getsockname())
            self._handed = []
            shared.close()

        @property
        def sockets(self) -> list[socket.socket]:
            if self._address is None:
                return self._shared
            family, kind, proto, address = self._address
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(2048)
            sock.set_inheritable(True)
            self._handed.append(sock)
            return [sock]

        @sockets.setter
        def sockets(self, value: list[socket.socket]) -> None:
            self._shared = value

        def _close_handed(self) -> None:
            """The supervisor's copies of the sockets of started workers: the worker holds its own, and
            when it ends, its socket leaves the group (no connection waits on a socket nobody serves)."""
            if self._address is not None:
                for sock in self._handed:
                    sock.close()
                self._handed.clear()

        def init_processes(self) -> None:
            super().init_processes()
            self._close_handed()

        def keep_subprocess_alive(self) -> None:
            before = self._pids()
            super().keep_subprocess_alive()
            self._close_handed()
            self._gone(before)

        def restart_all(self) -> None:
            before = self._pids()
            super().restart_all()
            self._close_handed()
            self._gone(before)

        def _pids(self) -> set[int]:
            return {p.pid for p in self.processes if p.pid is not None}

        def _gone(self, before: set[int]) -> None:
            for pid in before - self._pids():
                mark_worker_dead(pid)

    return Supervisor


def worker_app() -> Any:
    """The app of one worker process (``serve --workers N``): its logging, then the app."""
    from pdo_graph.app import create_app

    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)

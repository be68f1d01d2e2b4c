"""The `pdo-graph` commands: help for every option, dev tokens from the server's data directory only,
an unknown sync source refused, logs readable on a terminal and quiet libraries."""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import re
from pathlib import Path

import pytest

from pdo_graph import cli
from pdo_graph.auth.tokens import load_or_create_dev_key
from pdo_graph.observability import CHATTY_LOGGERS, RequestIdFilter, TextFormatter, configure_logging
from tests.console.conftest import CLI, Terminal, clean_env, run


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


def test_every_command_and_every_option_has_help():
    every = commands(cli.build_parser())
    names = {" ".join(path) for path, _ in every}
    assert {"serve", "migrate", "dev-token", "demo-data", "ledger check", "sync", "assets", "export-schema"} <= names
    for path, parser in every:
        assert parser.description, path
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                assert all(choice.help for choice in action._choices_actions), path
            elif not isinstance(action, argparse._HelpAction):
                assert action.help and len(action.help) > 10, (path, action.dest)


def test_help_is_printed_for_the_program_and_each_command(tmp_path: Path):
    env = clean_env(PDO_PORT="not even read by --help")
    done = run("--help", env=env)
    assert done.returncode == 0 and "Exit codes: 0 done" in done.stdout and "sync" in done.stdout
    for command in (["serve"], ["dev-token"], ["sync"], ["ledger", "check"], ["demo-data"]):
        done = run(*command, "--help", env=env)
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.startswith(f"usage: pdo-graph {' '.join(command)}"), done.stdout
    serve = run("serve", "--help", env=env).stdout
    for option in ("--host ADDRESS", "--port PORT", "--migrate", "--demo", "--workers N", "--with-sync"):
        assert option in serve


def test_dev_token_uses_the_servers_data_directory_and_refuses_to_invent_a_key(tmp_path: Path, settings):
    elsewhere = tmp_path / "another-folder"
    elsewhere.mkdir()
    done = run("dev-token", "--role", "guardian", "--subject", "alice", env=clean_env(), cwd=elsewhere)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"no dev signing key in {elsewhere / '.pdo'} (PDO_DATA_DIR): the server creates it on its first start;"
        " run this where the server runs, set PDO_DATA_DIR to its data directory, or pass --create"
    ]
    assert list(elsewhere.iterdir()) == []  # nothing created
    # the server's data directory (PDO_DATA_DIR): its key signs
    server_key = load_or_create_dev_key(settings.data_dir)
    done = run(
        "dev-token", "--role", "operator", "--subject", "op", "--municipality", "01",
        env=clean_env(PDO_DATA_DIR=str(settings.data_dir)), cwd=elsewhere,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    header = json.loads(base64.urlsafe_b64decode(done.stdout.split(".")[0] + "=="))
    assert header["kid"] == server_key.kid
    # --create makes one where asked
    done = run("dev-token", "--role", "guardian", "--subject", "alice", "--create", env=clean_env(), cwd=elsewhere)
    assert done.returncode == 0 and (elsewhere / ".pdo" / "dev-signing-key.json").is_file()
    # a server in oidc mode does not take dev tokens: said plainly
    done = run(
        "dev-token", "--role", "guardian", "--subject", "alice",
        env=clean_env(
            PDO_AUTH_MODE="oidc", PDO_OIDC_ISSUER="https://id.example.org", PDO_SECRET_KEY="k" * 40,
            PDO_PERSONAL_DATA_KEYS="p1:" + "A" * 44, PDO_URL_SIGNING_KEY="u" * 44,
        ),
        cwd=elsewhere,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.startswith("PDO_AUTH_MODE: dev tokens are for PDO_AUTH_MODE=dev")


def test_sync_with_an_unknown_source_says_so(database_url: str, data_dir: Path, db):
    env = clean_env(PDO_DATABASE_URL=database_url, PDO_DATA_DIR=str(data_dir))
    done = run("sync", "--source", "999", "--source", "998", env=env)
    assert done.returncode == 2
    assert "catalog source 999 not found" in done.stderr and "catalog source 998 not found" in done.stderr
    assert "Catalog sync" not in done.stderr + done.stdout  # nothing ran
    done = run("sync", "--source", "Program:7", env=env)
    assert done.returncode == 2 and "not a source id: 'Program:7'" in done.stderr


def test_demo_data_shows_progress_on_a_terminal_and_refuses_a_database_that_is_not_empty(
    scratch_database: str, tmp_path: Path
):
    env = clean_env(PDO_DATABASE_URL=scratch_database, PDO_DATA_DIR=str(tmp_path))
    term = Terminal([*CLI, "demo-data"], env)
    try:
        assert term.wait(timeout=300) == 0
    finally:
        term.close()
    raw, screen = term.raw(), term.text()
    # rich redraws the spinner about 12 times a second: which migration a frame shows is up to timing
    assert re.search(r"applying migrations… \d{4} applied", raw)
    assert re.search(r"loading the demo region… certificates \d+/\d+", raw)
    assert re.search(r"✓ database schema migrated: empty → \d+", screen)
    assert re.search(r"demo data loaded: municipalities=\d+, certificates=\d+", screen)
    again = run("demo-data", env=env)
    assert again.returncode == 1
    assert "the database is not empty: the demo region loads into an empty database only" in again.stderr
    # without a terminal the steps are log lines (JSON by default)
    steps = [json.loads(line)["message"] for line in again.stderr.splitlines() if line.startswith("{")]
    assert len(steps) == 3 and steps[0].startswith("PostgreSQL at ") and "database schema up to date" in steps[1]
    assert steps[2].startswith("demo data: the database holds data already, nothing loaded")


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in CHATTY_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


def test_libraries_are_quiet_unless_debug(restore_logging):
    configure_logging("info", "json")
    assert all(logging.getLogger(name).getEffectiveLevel() == logging.WARNING for name in CHATTY_LOGGERS)
    assert logging.getLogger("pdo_graph").isEnabledFor(logging.INFO)
    configure_logging("debug", "text")
    assert all(logging.getLogger(name).isEnabledFor(logging.DEBUG) for name in CHATTY_LOGGERS)
    configure_logging("warning", "auto")
    assert not logging.getLogger("pdo_graph").isEnabledFor(logging.INFO)


def test_text_lines_carry_the_request_fields():
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(TextFormatter(terminal=True))
    log = logging.getLogger("test.console.text")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        log.info("graphql request", extra={"request_id": "r1", "operation": "Me", "ms": 3.2, "outcome": "ok"})
        log.warning("careful")
    finally:
        log.removeHandler(handler)
    first, second = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO test\.console\.text \[r1\] graphql request operation=Me ms=3\.2 outcome=ok", first
    )
    assert second.startswith("\x1b[33m") and second.endswith("[-] careful\x1b[0m")


async def test_analytics_refresh_says_what_it_did_and_exits_1_when_another_runs(database_url: str, data_dir: Path, db):
    from sqlalchemy import text

    from pdo_graph.domain.analytics.refresh import LOCK_KEY

    env = clean_env(PDO_DATABASE_URL=database_url, PDO_DATA_DIR=str(data_dir))
    done = await asyncio.to_thread(run, "analytics", "refresh", env=env)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"analytics refreshed: generation 1, as of \d{4}-\d\d-\d\d [0-9:]+ \S*, \d+ rows\n", done.stdout
    )
    # without a terminal the step is one log line (JSON by default)
    steps = [json.loads(line)["message"] for line in done.stderr.splitlines() if line.startswith("{")]
    assert any(s.startswith("analytics aggregates refreshed: generation 1") for s in steps), done.stderr
    async with db.connect() as holder:
        await holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        busy = await asyncio.to_thread(run, "analytics", "refresh", env=env)
        await holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    assert busy.returncode == 1 and busy.stdout == ""
    assert "another refresh is running" in busy.stderr
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT generation FROM analytics_state"))).scalar_one() == 1

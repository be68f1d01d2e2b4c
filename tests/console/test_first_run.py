"""`pdo-graph serve --migrate --demo` on a terminal, as `make run` starts it on a fresh clone: one
line per step, then — once the port answers — one summary whose dev tokens work; library chatter
stays quiet; Ctrl-C stops it cleanly. A taken port and an unreachable database are one line each,
with their own exit codes."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx

from tests.console.conftest import CLI, Terminal, clean_env, run
from tests.e2e.conftest import free_port

WHO = """{ viewer { role subject municipality provider { inn } children { certificate { number } } } }"""


def post(url: str, query: str, token: str) -> dict:
    answer = httpx.post(url, json={"query": query}, headers={"authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict = answer.json()
    assert "errors" not in body, body
    return body["data"]


def tokens_of(screen: str) -> dict[str, tuple[str, str]]:
    """role -> (who, token) from the summary's token lines."""
    found = {}
    lines = screen.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"\s+(guardian|provider|operator|analyst)\s+(.+)$", line)
        if match and i + 1 < len(lines) and '"Authorization"' in lines[i + 1]:
            header = json.loads(lines[i + 1].strip())
            found[match.group(1)] = (match.group(2).strip(), header["Authorization"].removeprefix("Bearer "))
    return found


def test_first_run_on_a_terminal_prints_a_summary_with_working_tokens(scratch_database: str, tmp_path: Path):
    port = free_port()
    env = clean_env(
        PDO_DATABASE_URL=scratch_database,
        PDO_DATA_DIR=str(tmp_path / ".pdo"),
        PDO_PORT=str(port),
        PDO_BACKGROUND_JOBS="0",
    )
    url = f"http://127.0.0.1:{port}/graphql"
    term = Terminal([*CLI, "serve", "--migrate", "--demo"], env, cwd=tmp_path)
    try:
        screen = term.wait_for("stop: Ctrl-C", timeout=240)
        # the summary comes once the server answers
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).text == "ok"
        assert "database schema migrated: empty → " in screen
        assert re.search(r"✓ demo region loaded: \d+ certificates", screen)
        assert re.search(r"loading the demo region… certificates \d+/\d+", term.text() + term.raw())  # progress
        assert f"pdo-graph is serving {url}" in screen
        held = re.search(
            r"database: (\d+) municipalities, (\d+) providers, (\d+) programs, (\d+) families, (\d+) certificates",
            screen,
        )
        assert held and all(int(n) > 0 for n in held.groups()), screen
        # nothing from the libraries, no JSON: readable lines only
        for chatter in ("alembic", "pixeltable", "initdb", "Uvicorn running", "Started server process", '{"ts"'):
            assert chatter not in screen, (chatter, screen)

        tokens = tokens_of(screen)
        assert sorted(tokens) == ["analyst", "guardian", "operator", "provider"], screen
        who, guardian = tokens["guardian"]
        subject, enrollments = re.fullmatch(r"subject (\S+), (\d+) enrollments", who).groups()  # type: ignore[union-attr]
        me = post(url, WHO, guardian)["viewer"]
        assert me["role"] == "GUARDIAN" and me["subject"] == subject and me["children"]
        mine = post(url, "{ viewer { children { enrollments(first: 50) { totalCount } } } }", guardian)["viewer"]
        assert sum(child["enrollments"]["totalCount"] for child in mine["children"]) == int(enrollments) > 0
        who, provider = tokens["provider"]
        inn = re.match(r"ИНН (\d+), (\d+) groups", who).group(1)  # type: ignore[union-attr]
        assert post(url, WHO, provider)["viewer"]["provider"] == {"inn": inn}
        assert (
            post(url, "{ providerEnrollments(first: 1) { totalCount } }", provider)["providerEnrollments"]["totalCount"]
            > 0
        )
        who, operator = tokens["operator"]
        assert who.startswith("municipality 01 ")
        assert post(url, WHO, operator)["viewer"]["municipality"] == "01"
        assert post(url, WHO, tokens["analyst"][1])["viewer"]["role"] == "ANALYST"
        # the requests are logged as readable lines with their fields
        after = term.wait_for("outcome=ok")
        assert re.search(r"\d\d:\d\d:\d\d INFO pdo_graph \[[0-9a-f]{32}\] graphql request .*role=GUARDIAN", after)

        term.interrupt()
        assert term.wait() == 0
        assert "✓ stopped" in term.text()
    finally:
        term.close()
    # a second start finds everything in place and says so
    again = Terminal([*CLI, "serve", "--migrate", "--demo"], env, cwd=tmp_path)
    try:
        screen = again.wait_for("stop: Ctrl-C", timeout=120)
        assert "database schema up to date" in screen and "nothing loaded" in screen
        again.interrupt()
        assert again.wait() == 0
    finally:
        again.close()


def test_ctrl_c_before_the_server_listens_stops_cleanly_with_exit_code_130(scratch_database: str, tmp_path: Path):
    port = free_port()
    env = clean_env(PDO_DATABASE_URL=scratch_database, PDO_DATA_DIR=str(tmp_path), PDO_PORT=str(port))
    term = Terminal([*CLI, "serve", "--migrate", "--demo"], env, cwd=tmp_path)
    try:
        term.wait_for("loading the demo region", timeout=120)
        term.interrupt()
        assert term.wait() == 130
        screen = term.text()
        assert "✗ loading the demo region" in screen and "interrupted before the server started" in screen
        assert "Traceback" not in screen and "stop: Ctrl-C" not in screen
    finally:
        term.close()
    with socket.socket() as again:  # the port it had claimed is free again
        again.bind(("127.0.0.1", port))


def test_a_taken_port_is_one_line_and_exit_code_4_before_anything_starts(tmp_path: Path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # an unreachable database too: the port is checked first, nothing else is tried
        env = clean_env(
            PDO_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
            PDO_DATA_DIR=str(tmp_path / ".pdo"),
            PDO_PORT=str(port),
        )
        done = run("serve", "--migrate", "--demo", env=env)
    assert done.returncode == 4, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"PDO_PORT: port {port} on 127.0.0.1 is already in use (another pdo-graph?);"
        " stop that process, or choose another port: PDO_PORT=8001 or serve --port 8001"
    ]
    assert done.stdout == "" and not (tmp_path / ".pdo").exists()


def test_an_unreachable_database_is_one_line_naming_the_setting_and_exit_code_3(tmp_path: Path, database_url: str):
    dead = free_port()
    port = free_port()
    env = clean_env(
        PDO_DATABASE_URL=f"postgresql://postgres:hunter2@127.0.0.1:{dead}/pdo",
        PDO_DATA_DIR=str(tmp_path),
        PDO_PORT=str(port),
    )
    done = run("serve", "--migrate", env=env)
    assert done.returncode == 3
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines[-1] == (
        f"PDO_DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:{dead}/pdo:"
        " connection refused (is PostgreSQL running there?)"
    ), done.stderr
    assert "Traceback" not in done.stderr and "hunter2" not in done.stderr + done.stdout
    # the port it had claimed is free again
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))
    # an embedded server that cannot start: one line naming PDO_DATA_DIR and the reason
    broken = tmp_path / "broken"
    (broken / "pg").mkdir(parents=True)
    (broken / "pg" / "PG_VERSION").write_text("18\n")
    done = run("migrate", env=clean_env(PDO_DATA_DIR=str(broken)))
    assert done.returncode == 3 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"PDO_DATA_DIR: the embedded PostgreSQL in {broken / 'pg'} did not start: pg_ctl failed (exit status 1):"
        f' pg_ctl: error: could not open file "{broken / "pg" / "global" / "pg_control"}" for reading: No such file or'
        " directory (PDO_LOG_LEVEL=debug shows its output; or set PDO_DATABASE_URL to a server of your own)"
    ]
    # a database that does not exist on a server that does
    from sqlalchemy.engine import make_url

    missing = make_url(database_url).set(database="pdo_no_such_database")
    env["PDO_DATABASE_URL"] = missing.render_as_string(hide_password=False)
    done = run("migrate", env=env)
    assert done.returncode == 3
    assert done.stderr.strip().splitlines()[-1].startswith("PDO_DATABASE_URL: cannot connect to PostgreSQL at ")
    assert done.stderr.strip().endswith(
        'database "pdo_no_such_database" does not exist (create it, e.g. createdb "pdo_no_such_database")'
    )

"""GraphiQL served from our own origin: pinned npm tarballs, integrity-checked, cached on disk.

No page of ours makes the browser reach an outside host. The assets are fetched once from the npm
registry (``pdo-graph assets``, or at server start) into ``$PDO_DATA_DIR/assets``. The same
mechanism serves Chart.js to the analysts' page (``/analytics``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import logging
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import brotli
import httpx
import orjson

from pdo_graph.web.examples import ANALYST_HEADERS, ANALYTICS_EXAMPLES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's dist.integrity (sha512)
    files: dict[str, str]  # path inside the tarball -> local file name

    @property
    def tarball(self) -> str:
        base = self.name.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.name}/-/{base}-{self.version}.tgz"


PACKAGES = (
    Package(
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        {"package/umd/react.production.min.js": "react.js"},
    ),
    Package(
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        {"package/umd/react-dom.production.min.js": "react-dom.js"},
    ),
    Package(
        "graphiql",
        "3.8.3",
        "sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        {"package/graphiql.min.js": "graphiql.js", "package/graphiql.min.css": "graphiql.css"},
    ),
    Package(
        "chart.js",
        "4.6.1",
        "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        {"package/dist/chart.umd.min.js": "chart.js"},
    ),
)

ASSET_TYPES = {
    "react.js": "text/javascript",
    "react-dom.js": "text/javascript",
    "graphiql.js": "text/javascript",
    "graphiql.css": "text/css",
    "chart.js": "text/javascript",
}


CODINGS = {"br": ".br", "gzip": ".gz"}
"""Each file is also kept compressed (``graphiql.js.br``, ``graphiql.js.gz``) and served so."""


def assets_present(directory: Path) -> bool:
    return all((directory / f"{name}{suffix}").is_file() for name in ASSET_TYPES for suffix in ("", *CODINGS.values()))


def compress_assets(directory: Path) -> None:
    """Write the brotli and gzip copies that are missing, once (brotli quality 9: 3.5 MB of GraphiQL in 0.3 s
    to 0.63 MB; quality 11 would take 8 s for 10% less)."""
    for name in ASSET_TYPES:
        source = directory / name
        if not source.is_file():
            continue
        for coding, suffix in CODINGS.items():
            target = directory / f"{name}{suffix}"
            if target.is_file() and target.stat().st_mtime >= source.stat().st_mtime:
                continue
            data = source.read_bytes()
            packed = brotli.compress(data, quality=9) if coding == "br" else gzip.compress(data, 9, mtime=0)
            tmp = directory / f".{name}{suffix}.tmp"
            tmp.write_bytes(packed)
            tmp.replace(target)


def ensure_assets(directory: Path, timeout: float = 60.0, progress: Callable[[str], None] | None = None) -> None:
    """Download and verify the pinned packages whose files are missing (``progress`` hears of each
    package instead of the log)."""
    directory.mkdir(parents=True, exist_ok=True)
    for package in PACKAGES:
        if all((directory / local).is_file() for local in package.files.values()):
            continue
        if progress is not None:
            progress(f"{package.name}@{package.version}")
        else:
            log.info("fetching %s@%s for GraphiQL", package.name, package.version)
        data = httpx.get(package.tarball, timeout=timeout, follow_redirects=True).raise_for_status().content
        digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        if digest != package.integrity:
            raise RuntimeError(f"integrity mismatch for {package.name}@{package.version}")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for inner, local in package.files.items():
                member = tar.extractfile(inner)
                if member is None:
                    raise RuntimeError(f"{inner} missing in {package.name}@{package.version}")
                tmp = directory / f".{local}.tmp"
                tmp.write_bytes(member.read())
                tmp.replace(directory / local)
    compress_assets(directory)


PAGE = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>pdo-graph · GraphiQL</title>
<link rel="stylesheet" href="/graphiql/graphiql.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Загрузка GraphiQL…</div>
<script src="/graphiql/react.js"></script>
<script src="/graphiql/react-dom.js"></script>
<script src="/graphiql/graphiql.js"></script>
<script>
  // subscriptions go over WebSocket (graphql-transport-ws) to the same path; the headers editor's
  // values (Authorization) are sent as the connection_init payload
  const fetcher = GraphiQL.createFetcher({
    url: window.location.origin + "/graphql",
    subscriptionUrl: (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/graphql",
  });
  const params = new URLSearchParams(window.location.search);
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  // /graphql?examples=analytics: the analysts' example operations as tabs (not persisted)
  const examples = params.get("examples") === "analytics" ? EXAMPLES_JSON : null;
  const memory = { getItem: () => null, setItem: () => {}, removeItem: () => {}, clear: () => {}, length: 0 };
  root.render(React.createElement(GraphiQL, {
    fetcher,
    defaultEditorToolsVisibility: true,
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    query: examples ? undefined : (params.get("query") || undefined),
    headers: params.get("headers") || undefined,
    storage: examples ? memory : undefined,
    defaultTabs: examples ? examples.map((e) => ({ query: e.query, headers: params.get("headers") || e.headers })) : undefined,
    defaultQuery: "# Токен: pdo-graph dev-token --role GUARDIAN --subject alice\\n# Заголовки: {\\"Authorization\\": \\"Bearer ...\\"}\\n# Аналитикам: примеры запросов — /graphql?examples=analytics\\n{\\n  municipalities { code name currentPeriod { startsOn endsOn } }\\n  viewer { role }\\n}\\n",
  }));
</script>
</body>
</html>
""".replace(
    "EXAMPLES_JSON",
    orjson.dumps([{"name": n, "query": q, "headers": ANALYST_HEADERS} for n, q in ANALYTICS_EXAMPLES])
    .decode()
    .replace("</", "<\\/"),
)

MISSING = """<!doctype html><html lang="ru"><meta charset="utf-8"><title>pdo-graph</title>
<body><p>Файлы GraphiQL не загружены: выполните <code>pdo-graph assets</code>.</p>
<p>POST /graphql работает без них.</p></body></html>"""

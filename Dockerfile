# pdo-graph: the GraphQL server, for an external PostgreSQL and an OpenID Provider (docs/deploy.md).
# UNTESTED: Docker cannot run on the development machine; this file has not been built.
#
#   docker build -t pdo-graph .
#   docker run --rm -e PDO_DATABASE_URL=... pdo-graph pdo-graph migrate
#   docker run -p 8000:8000 -e PDO_DATABASE_URL=... -e PDO_OIDC_ISSUER=... -e PDO_OIDC_AUDIENCE=... \
#       -e PDO_SECRET_KEY=... -e PDO_PERSONAL_DATA_KEYS=... -e PDO_URL_SIGNING_KEY=... pdo-graph

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pdo_graph ./pdo_graph
RUN python -m venv /opt/pdo-graph \
 && /opt/pdo-graph/bin/pip install --upgrade pip \
 && /opt/pdo-graph/bin/pip install . \
 # GraphiQL's files (pinned npm tarballs, integrity-checked), compressed once, baked into the image
 && PDO_DATA_DIR=/opt/pdo-graph/data /opt/pdo-graph/bin/pdo-graph assets

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/pdo-graph --create-home pdo
COPY --from=build /opt/pdo-graph /opt/pdo-graph
RUN cp -r /opt/pdo-graph/data/assets /var/lib/pdo-graph/assets && chown -R pdo:pdo /var/lib/pdo-graph
ENV PATH=/opt/pdo-graph/bin:$PATH \
    PDO_DATA_DIR=/var/lib/pdo-graph \
    PDO_HOST=0.0.0.0 \
    PDO_PORT=8000 \
    PDO_AUTH_MODE=oidc \
    PDO_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
USER pdo
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"
# one process per core is a good start; migrations run as their own step (pdo-graph migrate)
CMD ["pdo-graph", "serve", "--workers", "2"]

"""The contract document (``Enrollment.contract.documentUrl``): ``GET /contracts/{enrollment id}`` as
HTML, ``?format=pdf`` as PDF, to those who may see the enrollment (``Authorization: Bearer``, as
``/graphql``); anyone else, and an unknown id, gets 404 (nothing tells them it exists).

One template (``web/templates/contract.html``, Jinja2, autoescaped) gives the page and the markup
that fpdf2 lays out into the PDF, with a Unicode TrueType font for the Cyrillic text: DejaVu Sans
from Debian's ``fonts-dejavu-core`` (``.ci/run`` and the README's setup install it) or the file
``PDO_PDF_FONT`` names. Without the font the PDF is refused with 503 ``PDF_FONT_MISSING`` (the HTML
still works). A provider's or an operator's reading is audited like any read of the child's data.
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import jinja2
from fpdf import FPDF
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pdo_graph.auth.actor import resolve_actor
from pdo_graph.auth.oidc import IssuerUnavailable
from pdo_graph.auth.principal import AuthError
from pdo_graph.domain import contracts
from pdo_graph.domain.audit import ReadAudit
from pdo_graph.domain.errors import DomainError, ErrorCode
from pdo_graph.ids import decode_pk
from pdo_graph.schema.enrollment import CONTRACT_PATH
from pdo_graph.services import Services
from pdo_graph.transport import errors
from pdo_graph.transport.execution import authenticate, is_database_down
from pdo_graph.transport.params import lang

PATH = CONTRACT_PATH
TEMPLATES = Path(__file__).resolve().parents[1] / "web" / "templates"
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)


def render_html(doc: contracts.ContractDocument, for_pdf: bool = False) -> str:
    return _ENV.get_template("contract.html").render(
        d=doc, for_pdf=for_pdf, rub=contracts.rub, day=contracts.day, month_label=contracts.month_label
    )


@functools.cache
def _font_file(path: str) -> Path | None:
    found = Path(path)
    return found if found.is_file() else None


def render_pdf(doc: contracts.ContractDocument, font: Path) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_title(doc.title)
    pdf.set_creator("pdo-graph")
    pdf.add_font("DejaVu", "", str(font))
    bold = font.with_name(font.name.replace("Sans.ttf", "Sans-Bold.ttf"))
    pdf.add_font("DejaVu", "B", str(bold if bold.is_file() else font))
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    pdf.write_html(render_html(doc, for_pdf=True), font_family="DejaVu")
    return bytes(pdf.output())


class ContractDocuments:
    """The contract route of one app."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def routes(self) -> list[Route]:
        return [Route(PATH, self.document)]

    async def document(self, request: Request) -> Response:
        language = lang(request)
        rid = request.state.request_id
        media = "application/json"
        try:
            principal = await authenticate(self.services, request.headers.get("authorization"))
        except IssuerUnavailable:
            return errors.refusal(503, errors.SERVICE_UNAVAILABLE, "issuer_unavailable", language, rid, media)
        except AuthError as exc:
            refused = {"message": exc.text(language), "extensions": {"code": errors.UNAUTHENTICATED, "requestId": rid}}
            return errors.respond(401, [refused], rid, media, {"www-authenticate": 'Bearer error="invalid_token"'})
        if principal.role is None:
            return errors.refusal(401, errors.UNAUTHENTICATED, "contract_auth", language, rid, media)
        pk = decode_pk(request.path_params["enrollment_id"], "Enrollment")
        wanted = request.query_params.get("format", "html").lower()
        if wanted not in ("html", "pdf"):
            return errors.refusal(400, errors.BAD_REQUEST, "contract_format", language, rid, media)
        font = _font_file(str(self.services.settings.pdf_font))
        if wanted == "pdf" and font is None:
            return errors.refusal(503, errors.PDF_FONT_MISSING, "pdf_font_missing", language, rid, media)
        database = self.services.database
        assert database is not None

        async def work(conn: AsyncConnection) -> contracts.ContractDocument:
            async def read(fn):  # type: ignore[no-untyped-def]
                return await fn(conn)

            actor = await resolve_actor(principal, read)
            audit = ReadAudit(actor, rid)
            if pk is None:
                raise DomainError.of(ErrorCode.NOT_FOUND, "not_found")
            doc = await contracts.load_document(conn, actor, pk, audit)
            await audit.flush(conn)
            return doc

        try:
            async with database.engine.begin() as conn:
                doc = await work(conn)
        except DomainError:
            return errors.refusal(404, errors.NOT_FOUND, "contract_not_found", language, rid, media)
        except Exception as exc:
            if not is_database_down(exc):
                raise
            return errors.respond(503, [errors.unavailable(rid, language)], rid, media, {"retry-after": "1"})
        headers = {"cache-control": "private, no-store"}
        if wanted == "html":
            return Response(render_html(doc), media_type="text/html; charset=utf-8", headers=headers)
        assert font is not None
        body = await asyncio.to_thread(render_pdf, doc, font)
        headers["content-disposition"] = f'inline; filename="contract-{doc.number}.pdf"'
        return Response(body, media_type="application/pdf", headers=headers)

"""The Playground: one static page (``runplane/playground/``) served by the API function at
``GET /playground``, locally and on AWS alike.

The page is public (``resources.PUBLIC_ROUTES``): it holds no data and no secret; every API call it
makes sends the key the person enters (kept in the tab's session storage only), and the API checks
it as for any other client. Its CSS and JavaScript are inlined into the one HTML answer (no other
route, no CDN: it works offline), and a Content-Security-Policy allows exactly that script and
style (by hash) and requests to this API's own origin.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()
ASSETS = Path(__file__).resolve().parents[1] / "playground"


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@cache
def page() -> tuple[str, str]:
    """The HTML with its style and script inlined, and the Content-Security-Policy that allows them."""
    css = (ASSETS / "playground.css").read_text()
    js = (ASSETS / "playground.js").read_text()
    html = (ASSETS / "index.html").read_text()
    html = html.replace("<!--STYLE-->", f"<style>{css}</style>").replace("<!--SCRIPT-->", f"<script>{js}</script>")
    csp = (
        f"default-src 'none'; script-src {_sha256(js)}; style-src {_sha256(css)}; "
        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return html, csp


@router.get("/playground", include_in_schema=False)
def playground() -> Response[str]:
    # No _require: the page is public and holds no data (resources.PUBLIC_ROUTES); its API calls send the key.
    html, csp = page()
    return Response(
        status_code=200,
        content_type="text/html; charset=utf-8",
        body=html,
        headers={
            "content-security-policy": csp,
            "cache-control": "no-cache",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
        },
    )

"""The API's documentation pages, served from the swagger-ui-bundle package (no CDN).

The bundled Swagger UI reads OpenAPI 3.0, while FastAPI writes 3.1: the page is given the same
document written as 3.0 (``/openapi-3.0.json``); ``/openapi.json`` stays 3.1 for tools.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

NULL = {"type": "null"}


def as_openapi_30(node):
    """An OpenAPI 3.1 document (or part of one) as 3.0: nullable instead of null types,
    boolean exclusive bounds, enum for const, binary strings for uploads."""
    if isinstance(node, list):
        return [as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: as_openapi_30(value) for key, value in node.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and NULL in options:
            rest = [option for option in options if option != NULL]
            del node[key]
            if len(rest) == 1 and "$ref" in rest[0]:
                node["allOf"] = rest  # a $ref takes no siblings in 3.0
            elif len(rest) == 1:
                node.update(rest[0])
            else:
                node[key] = rest
            node["nullable"] = True
    if isinstance(node.get("type"), list):
        types = [t for t in node["type"] if t != "null"]
        if len(types) < len(node["type"]):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else "string"
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(exclusive)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            node[bound], node[exclusive] = value, True
    if node.get("contentMediaType") == "application/octet-stream":
        del node["contentMediaType"]
        node["format"] = "binary"
    if isinstance(node.get("examples"), list) and node.get("type"):
        examples = node.pop("examples")
        if examples:
            node["example"] = examples[0]
    return node


def install_docs(app: FastAPI, favicon: str = "/static/favicon.svg") -> None:
    import swagger_ui_bundle

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="docs-assets")

    @app.get("/openapi-3.0.json", include_in_schema=False)
    def openapi_30() -> JSONResponse:
        return JSONResponse({**as_openapi_30(app.openapi()), "openapi": "3.0.3"})

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi-3.0.json", title=f"{app.title} API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url=favicon)

"""The OpenAPI 3.1 document, generated from the route declarations (``routing.Api``)."""

from __future__ import annotations

from typing import Any

from scaffold import __version__
from scaffold.web.routing import PATH_PARAM, Api, Endpoint, schema_of
from scaffold.web.schemas import Error

INTEGER_PARAMS = {"number", "wave"}
STATUS_TEXT = {
    400: "Malformed request",
    401: "Not logged in, or the token is invalid",
    403: "Not allowed",
    404: "Not found (or not visible to you)",
    409: "Refused in the current state",
    413: "Too large",
    422: "Invalid content",
    429: "Too many attempts",
}


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, annotation: Any) -> dict[str, Any]:
        schema = schema_of(annotation)
        self.schemas.update(schema.pop("$defs", {}))
        title = getattr(annotation, "__name__", None)
        if title and schema.get("type") == "object" and "properties" in schema:
            self.schemas[title] = schema
            return {"$ref": f"#/components/schemas/{title}"}
        return schema


def _operation(endpoint: Endpoint, components: _Components) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "parameters": [],
        "responses": {},
    }
    if endpoint.description:
        op["description"] = endpoint.description
    for name in PATH_PARAM.findall(endpoint.path):
        kind = {"type": "integer", "minimum": 0} if name in INTEGER_PARAMS else {"type": "string"}
        op["parameters"].append({"name": name, "in": "path", "required": True, "schema": kind})
    for name, query in endpoint.query.items():
        schema: dict[str, Any] = {"type": query.type}
        if query.minimum is not None:
            schema["minimum"] = query.minimum
        if query.default is not None:
            schema["default"] = query.default
        op["parameters"].append(
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": schema,
                "description": query.description,
            }
        )
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": components.ref(endpoint.body)}},
        }
    elif endpoint.raw_body:
        op["requestBody"] = {
            "required": True,
            "content": {
                endpoint.raw_body: {"schema": {"type": "string"}},
                **(
                    {"application/json": {"schema": {"type": "object"}}}
                    if endpoint.raw_body == "application/yaml"
                    else {}
                ),
            },
        }
    if endpoint.response_type != "application/json":
        op["responses"][str(endpoint.status)] = {
            "description": "OK",
            "content": {endpoint.response_type: {"schema": {"type": "string"}}},
        }
    elif endpoint.response is None:
        op["responses"][str(endpoint.status)] = {"description": "Done"}
    else:
        for status in (endpoint.status, *endpoint.also):
            op["responses"][str(status)] = {
                "description": "OK",
                "content": {"application/json": {"schema": components.ref(endpoint.response)}},
            }
    error_ref = components.ref(Error)
    codes = set(endpoint.errors) | {400}
    if not endpoint.public:
        codes |= {401, 403}
    if endpoint.body is not None:
        codes.add(422)
    for code in sorted(codes):
        op["responses"][str(code)] = {
            "description": STATUS_TEXT[code],
            "content": {"application/json": {"schema": error_ref}},
        }
    if not endpoint.public:
        op["security"] = [{"bearer": []}, {"session": []}] + ([{"basic": []}] if endpoint.basic else [])
    else:
        op["security"] = []
    return op


def build_document(apis: list[Api]) -> dict[str, Any]:
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for api in apis:
        for endpoint in api.endpoints:
            path = paths.setdefault(api.prefix + endpoint.path, {})
            path[endpoint.method.lower()] = _operation(endpoint, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Scaffold API",
            "version": __version__,
            "description": "Cascades of infrastructure tasks with waterfall state. Every error has the "
            'shape {"error": {"code", "message", "details"}}.',
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API token: scf_..."},
                "basic": {"type": "http", "scheme": "basic", "description": "only to create a token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "scaffold_session"},
            },
        },
    }

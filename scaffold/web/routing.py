"""The API's routes, declared once with their schemas: the same declaration serves requests,
checks credentials, validates bodies, and generates the OpenAPI document.

    @api.route("GET", "/cascades/{cascade}", summary="One cascade", tag="cascades",
               response=CascadeDetail)
    async def get_cascade(ctx: Context) -> CascadeDetail: ...
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scaffold.errors import InvalidInput, PayloadTooLarge, ScaffoldError
from scaffold.web.context import Context, resolve_principal

Handler = Callable[[Context], Awaitable[Any]]
PATH_PARAM = re.compile(r"{(\w+)}")
JSON_BODY_LIMIT = 1 << 20


@dataclass(frozen=True)
class Query:
    """A query parameter: its JSON-schema type ("string", "integer", "boolean"), default and help."""

    type: str = "string"
    default: Any = None
    description: str = ""
    minimum: int | None = None


@dataclass
class Endpoint:
    method: str
    path: str  # below the API prefix, e.g. "/cascades/{cascade}"
    handler: Handler
    summary: str
    tag: str
    description: str = ""
    body: type[BaseModel] | None = None
    raw_body: str | None = None  # a media type: the handler reads the raw body itself
    response: Any = None  # a pydantic model, list[Model], or None (no content)
    response_type: str = "application/json"
    status: int = 200
    also: tuple[int, ...] = ()  # other success statuses with the same body (e.g. 200 next to 201)
    public: bool = False  # no login needed
    basic: bool = False  # HTTP basic auth accepted (only to create a token)
    query: dict[str, Query] = field(default_factory=dict)
    errors: tuple[int, ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


class Api:
    def __init__(self, prefix: str = "/api/v1"):
        self.prefix = prefix
        self.endpoints: list[Endpoint] = []

    def route(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            endpoint = Endpoint(method.upper(), path, handler, **options)
            if endpoint.description == "" and handler.__doc__:
                endpoint.description = " ".join(handler.__doc__.split())
            self.endpoints.append(endpoint)
            return handler

        return register

    def starlette_routes(self) -> list[Route]:
        by_path: dict[str, dict[str, Endpoint]] = {}
        for endpoint in self.endpoints:
            by_path.setdefault(endpoint.path, {})[endpoint.method] = endpoint
        return [
            Route(self.prefix + path, _dispatcher(methods), methods=list(methods))
            for path, methods in by_path.items()
        ]


def _dispatcher(methods: dict[str, Endpoint]) -> Callable[[Request], Awaitable[Response]]:
    async def dispatch(request: Request) -> Response:
        endpoint = methods.get(request.method) or methods.get("GET" if request.method == "HEAD" else "")
        assert endpoint is not None  # starlette answers 405 for other methods
        return await _serve(endpoint, request)

    return dispatch


async def _serve(endpoint: Endpoint, request: Request) -> Response:
    state = request.app.state
    principal = await resolve_principal(
        request, state.access, allow_basic=endpoint.basic, public=endpoint.public
    )
    ctx = Context(request, state.core, state.access, principal, dict(request.path_params))
    if not endpoint.public:
        ctx.user  # noqa: B018 - an anonymous caller learns nothing about the request: 401 first
    ctx.query = _parse_query(endpoint, request)
    if endpoint.body is not None:
        ctx.body = await _parse_body(endpoint.body, request)
    result = await endpoint.handler(ctx)
    if isinstance(result, Response):
        return result
    if isinstance(result, tuple):  # (body, status) for endpoints with more than one success status
        body, status = result
        return JSONResponse(_jsonable(body), status_code=status)
    if endpoint.response is None and result is None:
        return Response(status_code=204 if endpoint.status == 200 else endpoint.status)
    return JSONResponse(_jsonable(result), status_code=endpoint.status)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _parse_query(endpoint: Endpoint, request: Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in endpoint.query.items():
        raw = request.query_params.get(name)
        if raw is None:
            values[name] = spec.default
            continue
        try:
            if spec.type == "integer":
                value: Any = int(raw)
                if spec.minimum is not None and value < spec.minimum:
                    raise ValueError
            elif spec.type == "boolean":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                value = raw.lower() in ("true", "1")
            else:
                value = raw
        except ValueError:
            kind = f"an integer >= {spec.minimum}" if spec.minimum is not None else spec.type
            raise InvalidInput(f"query parameter '{name}' must be {kind}, got {raw!r}") from None
        values[name] = value
    return values


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _parse_body(model: type[BaseModel], request: Request) -> BaseModel:
    raw = await read_limited(request, JSON_BODY_LIMIT)
    try:
        data = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise BodyInvalid(f"the request body does not match {model.__name__}", details) from None


class BodyInvalid(ScaffoldError):
    status = 422
    code = "invalid_body"
    exit_code = 2


def schema_of(annotation: Any) -> dict[str, Any]:
    """JSON schema with refs into components (collected by the OpenAPI generator)."""
    return TypeAdapter(annotation).json_schema(
        ref_template="#/components/schemas/{model}", mode="serialization"
    )

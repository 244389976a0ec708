"""API: inputs, and the datastore's env values and files (SPEC 5).

Password input values never leave the server: they read back as ``********``. Every datastore
write keeps the previous version with who wrote it.
"""

from __future__ import annotations

import base64
import binascii
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from pydantic import Field
from starlette.responses import StreamingResponse

from scaffold.access.policy import Action
from scaffold.engine.records import FileVersion, ValueVersion
from scaffold.errors import InvalidInput, NotFound, PayloadTooLarge
from scaffold.web import schemas as s
from scaffold.web import views
from scaffold.web.context import Context
from scaffold.web.routing import Api
from scaffold.web.schemas import Model

api = Api()
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}\Z")
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@,-]{0,254}\Z")
CHUNK = 256 * 1024  # bytes per chunk of a download
SPOOL_IN_MEMORY = 1 << 20  # an upload up to this size stays in memory


class InputsUpdate(Model):
    values: dict[str, str] = Field(description="input name -> new value")


class InputsResponse(Model):
    reset: list[str] = Field(description="tasks reset because an input they read changed")
    inputs: list[s.InputView]


class ValueInfo(Model):
    key: str
    version: int
    size: int
    written_at: float
    written_by: str | None
    text: str | None = Field(description="the value as UTF-8 text (null when it is not valid UTF-8)")
    base64: str = Field(description="the exact bytes, base64-encoded")


class ValueWrite(Model):
    text: str | None = None
    base64: str | None = None


class FileInfo(Model):
    name: str
    version: int
    size: int
    content_type: str
    written_at: float
    written_by: str | None


def _value(v: ValueVersion) -> ValueInfo:
    try:
        text: str | None = v.value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return ValueInfo(
        key=v.key,
        version=v.version,
        size=len(v.value),
        written_at=v.written_at,
        written_by=v.written_by,
        text=text,
        base64=base64.b64encode(v.value).decode("ascii"),
    )


def _file(f: FileVersion) -> FileInfo:
    return FileInfo(
        name=f.name,
        version=f.version,
        size=f.size,
        content_type=f.content_type,
        written_at=f.written_at,
        written_by=f.written_by,
    )


def _key(ctx: Context) -> str:
    key = ctx.params["key"]
    if not KEY.match(key):
        raise InvalidInput(
            f"'{key}' is not a value name: use letters, digits and '_' (like a shell variable)"
        )
    return key


def _file_name(ctx: Context) -> str:
    name = ctx.params["name"]
    if not FILE_NAME.match(name) or ".." in name:
        raise InvalidInput(
            f"'{name}' is not a file name: letters, digits and . _ - + = @ , only; "
            "no path, and not starting with '.'"
        )
    return name


# ------------------------------------------------------------------------------------- inputs


@api.route(
    "GET",
    "/cascades/{cascade}/inputs",
    summary="Inputs and their current values",
    tag="datastore",
    response=list[s.InputView],
    errors=(404,),
)
async def get_inputs(ctx: Context) -> list[s.InputView]:
    return views.inputs(ctx.cascade())


@api.route(
    "PUT",
    "/cascades/{cascade}/inputs",
    summary="Set input values",
    tag="datastore",
    body=InputsUpdate,
    response=InputsResponse,
    errors=(404, 409),
)
async def set_inputs(ctx: Context) -> InputsResponse:
    """Tasks that read a changed input, and everything downstream of them, are reset (they do not
    start on their own)."""
    live = ctx.cascade(action=Action.EDIT_INPUTS)
    update: InputsUpdate = ctx.body
    reset = await ctx.engine.set_inputs(live.spec.name, update.values, by=ctx.actor)
    await ctx.audit("input.set", live.spec.name, inputs=sorted(update.values), reset=reset)
    return InputsResponse(reset=reset, inputs=views.inputs(live))


# ------------------------------------------------------------------------------------- values


@api.route(
    "GET",
    "/cascades/{cascade}/values",
    summary="Datastore env values",
    tag="datastore",
    response=list[ValueInfo],
    errors=(404,),
)
async def list_values(ctx: Context) -> list[ValueInfo]:
    live = ctx.cascade()
    out = []
    for key in sorted(await ctx.store.get_values(live.spec.name)):
        versions = await ctx.store.value_versions(live.spec.name, key)
        out.append(_value(versions[0]))
    return out


@api.route(
    "GET",
    "/cascades/{cascade}/values/{key}",
    summary="One datastore value",
    tag="datastore",
    response=ValueInfo,
    errors=(404,),
)
async def get_value(ctx: Context) -> ValueInfo:
    live = ctx.cascade()
    versions = await ctx.store.value_versions(live.spec.name, _key(ctx))
    if not versions:
        raise NotFound(f"'{live.spec.name}' has no value '{ctx.params['key']}'")
    return _value(versions[0])


@api.route(
    "PUT",
    "/cascades/{cascade}/values/{key}",
    summary="Set a datastore value",
    tag="datastore",
    body=ValueWrite,
    response=ValueInfo,
    errors=(404,),
)
async def put_value(ctx: Context) -> ValueInfo:
    """Send ``text`` or ``base64`` (exactly one). The previous value stays in the versions."""
    live = ctx.cascade(action=Action.EDIT_VALUES)
    key = _key(ctx)
    body: ValueWrite = ctx.body
    if (body.text is None) == (body.base64 is None):
        raise InvalidInput("send exactly one of 'text' and 'base64'")
    try:
        data = (
            body.text.encode("utf-8")
            if body.text is not None
            else base64.b64decode(body.base64 or "", validate=True)
        )
    except (binascii.Error, ValueError):
        raise InvalidInput("'base64' is not valid base64") from None
    await ctx.store.put_values(live.spec.name, {key: data}, ctx.actor)
    await ctx.audit("value.set", f"{live.spec.name}/{key}", size=len(data))
    return _value((await ctx.store.value_versions(live.spec.name, key))[0])


@api.route(
    "GET",
    "/cascades/{cascade}/values/{key}/versions",
    summary="Every version of a value",
    tag="datastore",
    response=list[ValueInfo],
    errors=(404,),
)
async def value_versions(ctx: Context) -> list[ValueInfo]:
    live = ctx.cascade()
    versions = await ctx.store.value_versions(live.spec.name, _key(ctx))
    if not versions:
        raise NotFound(f"'{live.spec.name}' has no value '{ctx.params['key']}'")
    return [_value(v) for v in versions]


# -------------------------------------------------------------------------------------- files


@api.route(
    "GET",
    "/cascades/{cascade}/files",
    summary="Datastore files",
    tag="datastore",
    response=list[FileInfo],
    errors=(404,),
)
async def list_files(ctx: Context) -> list[FileInfo]:
    live = ctx.cascade()
    return [_file(f) for f in await ctx.store.list_files(live.spec.name)]


async def _current(ctx: Context, cascade: str, name: str) -> FileVersion:
    current = next((f for f in await ctx.store.list_files(cascade) if f.name == name), None)
    if current is None:
        raise NotFound(f"'{cascade}' has no file '{name}'")
    return current


@api.route(
    "GET",
    "/cascades/{cascade}/files/{name}",
    summary="Download a file",
    tag="datastore",
    response=None,
    response_type="*/*",  # the content type recorded at upload
    errors=(404,),
)
async def download_file(ctx: Context) -> StreamingResponse:
    live = ctx.cascade()
    name = _file_name(ctx)
    info = await _current(ctx, live.spec.name, name)
    store, cascade = ctx.store, live.spec.name

    async def chunks() -> AsyncIterator[bytes]:
        # one version never changes, so reading it in chunks is consistent
        for start in range(0, info.size, CHUNK):
            yield await store.read_file_range(cascade, name, info.version, start, CHUNK)

    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "Content-Length": str(info.size),
        "X-Scaffold-Version": str(info.version),
    }
    return StreamingResponse(chunks(), media_type=info.content_type, headers=headers)


def _spool_dir(ctx: Context) -> str | None:
    """Uploads larger than SPOOL_IN_MEMORY go to a temporary file in the data directory."""
    data_dir = getattr(ctx.core.settings, "data_dir", None)
    if data_dir is None:
        return None
    path = Path(data_dir) / "uploads"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)


async def _spool_body(request: Any, spool: Any, limit: int) -> int:
    """Copy the request body into ``spool`` as it arrives; refuse it once it passes ``limit``."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes (file_limit_bytes)")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the file is larger than the limit of {limit} bytes (file_limit_bytes)")
        spool.write(chunk)
    return size


@api.route(
    "PUT",
    "/cascades/{cascade}/files/{name}",
    summary="Upload a file",
    tag="datastore",
    raw_body="application/octet-stream",
    response=FileInfo,
    errors=(404, 413),
)
async def upload_file(ctx: Context) -> FileInfo:
    """The body is the file's content; its Content-Type is recorded. The previous content stays in
    the versions."""
    live = ctx.cascade(action=Action.EDIT_FILES)
    name = _file_name(ctx)
    limit = ctx.core.settings.file_limit_bytes
    content_type = ctx.request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=_spool_dir(ctx)) as spool:
        size = await _spool_body(ctx.request, spool, limit)
        spool.seek(0)
        await ctx.store.put_file_from(live.spec.name, name, spool, size, ctx.actor, content_type or None)
    await ctx.audit("file.upload", f"{live.spec.name}/{name}", size=size)
    return _file(await _current(ctx, live.spec.name, name))


@api.route(
    "DELETE",
    "/cascades/{cascade}/files/{name}",
    summary="Delete a file (its versions stay)",
    tag="datastore",
    status=204,
    errors=(404,),
)
async def delete_file(ctx: Context) -> None:
    live = ctx.cascade(action=Action.EDIT_FILES)
    name = _file_name(ctx)
    await _current(ctx, live.spec.name, name)
    await ctx.store.delete_file(live.spec.name, name, ctx.actor)
    await ctx.audit("file.delete", f"{live.spec.name}/{name}")


@api.route(
    "GET",
    "/cascades/{cascade}/files/{name}/versions",
    summary="Every version of a file",
    tag="datastore",
    response=list[FileInfo],
    errors=(404,),
)
async def file_versions(ctx: Context) -> list[FileInfo]:
    live = ctx.cascade()
    versions = await ctx.store.file_versions(live.spec.name, _file_name(ctx))
    if not versions:
        raise NotFound(f"'{live.spec.name}' has no file '{ctx.params['name']}'")
    return [_file(f) for f in versions]

"""API: people and access -- log in and out, API tokens, users, groups and roles (SPEC 7).

A token is shown once, when it is created, and stored only as a hash. HTTP basic auth is accepted
only by ``POST /tokens``, to get a first token from a username and password.
"""

from __future__ import annotations

from pydantic import Field
from starlette.responses import JSONResponse, Response

from scaffold.access.policy import Action, actions_of, allowed
from scaffold.access.records import Role, Token, User
from scaffold.web.context import SESSION_COOKIE, Context, set_session_cookie
from scaffold.web.routing import Api, Query
from scaffold.web.schemas import Model

api = Api()


class TokenCreate(Model):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")
    expires_in_days: float | None = Field(
        None, gt=0, le=3650, description="omit for a token that never expires"
    )
    username: str | None = Field(None, description="admins: make the token for this user (default: yourself)")


class TokenView(Model):
    id: str
    name: str
    username: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


class TokenCreated(TokenView):
    token: str = Field(description="shown only now: send it as 'Authorization: Bearer <token>'")


class UserView(Model):
    username: str
    role: str
    groups: list[str]
    disabled: bool
    created_at: float
    updated_at: float


class UserCreate(Model):
    username: str
    password: str | None = Field(None, description="omit for a user who only uses API tokens")
    role: str = "read"
    groups: list[str] = []


class UserPatch(Model):
    role: str | None = None
    groups: list[str] | None = None
    disabled: bool | None = None
    password: str | None = None


class PasswordChange(Model):
    old: str
    new: str


class Login(Model):
    username: str
    password: str


class LoginResponse(Model):
    username: str
    role: str
    csrf_token: str = Field(
        description="send as the X-CSRF-Token header on every change made with the cookie"
    )
    expires_at: float


class RoleView(Model):
    name: str
    actions: list[str]


class GroupView(Model):
    name: str
    members: list[str]
    cascades: list[str]


def _token(t: Token) -> TokenView:
    return TokenView(
        id=t.id,
        name=t.name,
        username=t.username,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked_at=t.revoked_at,
        last_used_at=t.last_used_at,
    )


def _user(u: User) -> UserView:
    return UserView(
        username=u.username,
        role=Role(u.role).value,
        groups=list(u.groups),
        disabled=u.disabled,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


# ------------------------------------------------------------------------------ log in and out


@api.route(
    "POST",
    "/login",
    summary="Log in (sets the session cookie)",
    tag="people",
    public=True,
    body=Login,
    response=LoginResponse,
    errors=(401, 429),
)
async def login(ctx: Context) -> JSONResponse:
    remote = ctx.request.client.host if ctx.request.client else None
    session, cookie = await ctx.access.login(ctx.body.username, ctx.body.password, remote)
    user = await ctx.access.store.get_user(session.username)
    body = LoginResponse(
        username=session.username,
        role=Role(user.role).value,
        csrf_token=session.csrf_token,
        expires_at=session.expires_at,
    )
    response = JSONResponse(body.model_dump())
    set_session_cookie(response, ctx.request, session, cookie)
    return response


@api.route("POST", "/logout", summary="Log out (ends the session)", tag="people", public=True, status=204)
async def logout(ctx: Context) -> Response:
    await ctx.access.logout(ctx.request.cookies.get(SESSION_COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@api.route(
    "POST",
    "/me/password",
    summary="Change my password",
    tag="people",
    body=PasswordChange,
    status=204,
    errors=(429,),
)
async def change_password(ctx: Context) -> None:
    await ctx.access.change_password(ctx.user, ctx.body.old, ctx.body.new, keep=ctx.principal.session)


# ------------------------------------------------------------------------------------- tokens


@api.route(
    "POST",
    "/tokens",
    summary="Create an API token (basic auth accepted here)",
    tag="tokens",
    basic=True,
    body=TokenCreate,
    response=TokenCreated,
    status=201,
    errors=(404, 429),  # 404: an admin named a user who does not exist
)
async def create_token(ctx: Context) -> TokenCreated:
    expires = ctx.body.expires_in_days
    expires_at = ctx.engine.clock.now() + expires * 86400 if expires else None
    token, plaintext = await ctx.access.create_token(ctx.user, ctx.body.name, expires_at, ctx.body.username)
    return TokenCreated(**_token(token).model_dump(), token=plaintext)


@api.route(
    "GET",
    "/tokens",
    summary="API tokens (mine; an admin may ask for everyone's)",
    tag="tokens",
    response=list[TokenView],
    query={
        "all": Query("boolean", False, "every user's tokens (admins)"),
        "username": Query(description="this user's tokens (admins, or yourself)"),
    },
)
async def list_tokens(ctx: Context) -> list[TokenView]:
    tokens = await ctx.access.list_tokens(ctx.user, ctx.query["username"], everyone=ctx.query["all"])
    return [_token(t) for t in tokens]


@api.route("DELETE", "/tokens/{token}", summary="Revoke a token", tag="tokens", status=204, errors=(404,))
async def revoke_token(ctx: Context) -> None:
    await ctx.access.revoke_token(ctx.user, ctx.params["token"])


# -------------------------------------------------------------------------------------- users


@api.route("GET", "/users", summary="Users (admins)", tag="people", response=list[UserView])
async def list_users(ctx: Context) -> list[UserView]:
    return [_user(u) for u in await ctx.access.list_users(ctx.user)]


@api.route(
    "POST",
    "/users",
    summary="Create a user (admins)",
    tag="people",
    body=UserCreate,
    response=UserView,
    status=201,
    errors=(409,),
)
async def create_user(ctx: Context) -> UserView:
    body: UserCreate = ctx.body
    user = await ctx.access.create_user(
        ctx.user, body.username, password=body.password, role=body.role, groups=body.groups
    )
    return _user(user)


@api.route(
    "GET",
    "/users/{username}",
    summary="One user (admins, or yourself)",
    tag="people",
    response=UserView,
    errors=(404,),
)
async def get_user(ctx: Context) -> UserView:
    return _user(await ctx.access.get_user(ctx.user, ctx.params["username"]))


@api.route(
    "PATCH",
    "/users/{username}",
    summary="Change a user's role, groups, password; disable (admins)",
    tag="people",
    body=UserPatch,
    response=UserView,
    errors=(404, 409),
)
async def update_user(ctx: Context) -> UserView:
    body: UserPatch = ctx.body
    user = await ctx.access.update_user(
        ctx.user,
        ctx.params["username"],
        role=body.role,
        groups=body.groups,
        disabled=body.disabled,
        password=body.password,
    )
    return _user(user)


@api.route(
    "DELETE",
    "/users/{username}",
    summary="Delete a user and their tokens (admins)",
    tag="people",
    status=204,
    errors=(404, 409),
)
async def delete_user(ctx: Context) -> None:
    await ctx.access.delete_user(ctx.user, ctx.params["username"])


# ---------------------------------------------------------------------------- roles and groups


@api.route("GET", "/roles", summary="Roles and what each allows", tag="people", response=list[RoleView])
async def list_roles(ctx: Context) -> list[RoleView]:
    ctx.user  # noqa: B018 - any logged-in user
    return [RoleView(name=r.value, actions=[a.value for a in actions_of(r)]) for r in Role]


@api.route(
    "GET",
    "/groups",
    summary="Groups: their members (admins) and the cascades you see in them",
    tag="people",
    response=list[GroupView],
)
async def list_groups(ctx: Context) -> list[GroupView]:
    user = ctx.user
    admin = allowed(user, Action.MANAGE_USERS)
    users = await ctx.access.store.list_users() if admin else [user]
    names = {g for u in users for g in u.groups}
    visible = [c for c in ctx.engine.cascades.values() if ctx.principal.can_see(c.spec.groups)]
    names |= {g for c in visible for g in c.spec.groups} if admin else set()
    if not admin:
        names &= set(user.groups)
    if not names and not admin and not user.groups:
        return []
    return [
        GroupView(
            name=g,
            members=sorted(u.username for u in users if g in u.groups),
            cascades=sorted(c.spec.name for c in visible if g in c.spec.groups),
        )
        for g in sorted(names)
    ]

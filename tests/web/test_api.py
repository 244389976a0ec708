"""The main routes of API v1 doing their job: apply and re-apply, the board, starts and kills, runs,
logs and waves, inputs, values, files, webhooks, users and tokens, the audit log."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json

import httpx

from scaffold.executors.fake import Behavior
from tests.web.conftest import OPS, PASSWORD, Server

API = "/api/v1"
YAML = {"Content-Type": "application/yaml"}
PIPELINE = """\
version: v1
name: pipeline
description: build and ship
inputs:
  - name: TOKEN
    type: password
    default: s3cr3t-default-token
tasks:
  - name: build
    image: img
    run: make
  - name: test
    image: img
    run: make test
    depends_on: [build]
  - name: ship
    image: img
    run: ./ship
    inputs: [TOKEN]
    depends_on: [test]
"""


def errors_of(r: httpx.Response) -> dict:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    return body["error"]


async def apply(
    client: httpx.AsyncClient, text: str, *, method: str = "POST", name: str = ""
) -> httpx.Response:
    path = f"{API}/cascades" + (f"/{name}" if name else "")
    return await client.request(method, path, content=text.encode(), headers=YAML)


async def run_all(server: Server, cascade: str) -> int:
    wave = await server.core.engine.start(cascade, by="admin")
    await server.core.engine.wait_wave(wave.id)
    return wave.id


async def board(client: httpx.AsyncClient, cascade: str) -> dict[str, dict]:
    r = await client.get(f"{API}/cascades/{cascade}/tasks")
    assert r.status_code == 200, r.text
    return {t["name"]: t for t in r.json()}


# ------------------------------------------------------------------------------------ apply


async def test_apply_creates_then_re_apply_reports_the_changes_and_resets(server: Server):
    client = server.client("writer_in")
    r = await apply(client, PIPELINE)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["cascade"] == "pipeline" and created["created"] is True and created["version"] == 1
    assert created["changes"]["added"] == ["build", "test", "ship"]
    assert created["changes"]["summary"], created

    listed = (await client.get(f"{API}/cascades")).json()
    pipeline = next(c for c in listed if c["name"] == "pipeline")
    assert pipeline["tasks"] == 3 and pipeline["states"] == {"not_started": 3} and pipeline["active"] is False
    detail = (await client.get(f"{API}/cascades/pipeline")).json()
    assert detail["description"] == "build and ship" and [t["name"] for t in detail["board"]] == [
        "build",
        "test",
        "ship",
    ]

    r = await apply(client, PIPELINE)  # the same file again: nothing changes
    assert r.status_code == 200 and r.json()["created"] is False
    assert r.json()["changes"]["changed"] == [] and r.json()["changes"]["reset"] == []

    await run_all(server, "pipeline")
    assert {t["state"] for t in (await board(client, "pipeline")).values()} == {"success"}

    changed = PIPELINE.replace("run: make test", "run: make test-all")
    r = await apply(client, changed, method="PUT", name="pipeline")
    assert r.status_code == 200, r.text
    changes = r.json()["changes"]
    assert changes["changed"] == [{"task": "test", "fields": ["run"]}]
    assert [x["task"] for x in changes["reset"]] == ["test", "ship"]
    assert all(x["reason"] for x in changes["reset"])
    states = {name: t["state"] for name, t in (await board(client, "pipeline")).items()}
    assert states == {"build": "success", "test": "not_started", "ship": "not_started"}
    assert r.json()["version"] == created["version"] + 1

    # JSON works as well as YAML
    as_json = {"version": "v1", "name": "from-json", "tasks": [{"name": "t", "image": "img", "run": "true"}]}
    r = await client.post(f"{API}/cascades", json=as_json)
    assert r.status_code == 201, r.text
    assert (await client.get(f"{API}/cascades/from-json")).status_code == 200


async def test_apply_answers_every_problem_with_its_line(server: Server):
    client = server.client("writer_in")
    bad = """\
version: v1
name: Bad Name
tasks:
  - name: a
    image: img
    run: x
    depends_on: [nope]
  - name: a
    image: img
    run: y
"""
    r = await apply(client, bad)
    assert r.status_code == 422
    error = errors_of(r)
    assert error["code"] == "validation_failed"
    lines = sorted((d["line"], d["path"]) for d in error["details"])
    assert lines == [(2, "name"), (7, "tasks[0].depends_on"), (8, "tasks[1].name")], error["details"]
    assert all(d["message"] for d in error["details"])

    r = await apply(client, "tasks: [unclosed")
    assert r.status_code == 422 and errors_of(r)["details"][0]["line"] == 1

    r = await apply(client, OPS, method="PUT", name="open-cascade")  # the file names another cascade
    assert r.status_code == 400 and "ops-deploy" in errors_of(r)["message"]

    r = await client.post(f"{API}/cascades", content=b"x" * (4 * 1024 * 1024 + 1), headers=YAML)
    assert r.status_code == 413


async def test_versions_mask_password_defaults(server: Server):
    client = server.client("admin")
    await apply(client, OPS.replace("eu-west-1", "eu-north-1"), method="PUT", name="ops-deploy")
    r = await client.get(f"{API}/cascades/ops-deploy/versions")
    assert r.status_code == 200
    versions = r.json()
    assert [v["version"] for v in versions] in ([1, 2], [2, 1])
    for v in versions:
        assert "hunter2-db-password" not in v["source"]
        assert "********" in v["source"]
        assert v["applied_by"] == "admin"
    assert {("eu-north-1" in v["source"]) for v in versions} == {True, False}

    # applying the masked copy back would make the mask the new password default: refused
    masked = next(v["source"] for v in versions if "eu-north-1" in v["source"])
    masked = masked.replace("eu-north-1", "eu-south-1").replace("default: ********", 'default: "********"')
    r = await apply(client, masked, method="PUT", name="ops-deploy")
    assert r.status_code == 400, r.text
    assert "DB_PASSWORD" in errors_of(r)["message"] and "mask" in errors_of(r)["message"]
    inputs = {i["name"]: i for i in (await client.get(f"{API}/cascades/ops-deploy/inputs")).json()}
    assert inputs["DB_PASSWORD"]["value"] == "********"  # still set, and still the old value
    assert len((await client.get(f"{API}/cascades/ops-deploy/versions")).json()) == 2


async def test_delete_a_cascade(server: Server):
    client = server.client("writer_in")
    server.executor.behave("plan", hang=True)
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={})
    assert r.status_code == 200
    await wait_for_state(client, "ops-deploy", "plan", "running")
    r = await client.delete(f"{API}/cascades/ops-deploy")
    assert r.status_code == 409 and "kill" in errors_of(r)["message"]
    assert (await client.post(f"{API}/cascades/ops-deploy/tasks/plan/kill")).status_code == 200
    assert (await client.delete(f"{API}/cascades/ops-deploy")).status_code == 204
    assert (await client.get(f"{API}/cascades/ops-deploy")).status_code == 404
    assert (await client.delete(f"{API}/cascades/ops-deploy")).status_code == 404


# ----------------------------------------------------------------------------- tasks and starts


async def wait_for_state(client: httpx.AsyncClient, cascade: str, task: str, state: str) -> dict:
    for _ in range(300):
        r = await client.get(f"{API}/cascades/{cascade}/tasks/{task}")
        if r.json()["state"] == state:
            return r.json()
        await asyncio.sleep(0.01)
    raise AssertionError(f"{cascade}/{task} never became {state}: {r.json()}")


async def test_patch_a_task(server: Server):
    client = server.client("writer_in")
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/apply", json={"disabled": True})
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True and r.json()["name"] == "apply"
    assert (await client.get(f"{API}/cascades/ops-deploy/tasks/apply")).json()["disabled"] is True
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"task": "apply"})
    assert r.status_code == 409 and "disabled" in errors_of(r)["message"]
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/apply", json={"auto_execute": False})
    assert r.json()["auto_execute"] is False and r.json()["disabled"] is True  # the other flag stays

    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/apply", json={"disabled": "perhaps"})
    assert r.status_code == 422 and errors_of(r)["details"][0]["field"] == "disabled"
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/apply", json={"color": "red"})
    assert r.status_code == 422
    r = await client.patch(f"{API}/cascades/ops-deploy/tasks/nope", json={"disabled": True})
    assert r.status_code == 404


async def test_the_dry_run_is_what_the_start_then_does(server: Server):
    client = server.client("writer_in")
    await run_all(server, "ops-deploy")
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"task": "apply", "dry_run": True})
    assert r.status_code == 200, r.text
    preview = r.json()["preview"]
    assert r.json()["wave"] is None
    assert preview["start"] == ["apply"] and preview["reset"] == ["verify"] and preview["refused"] is None
    assert preview["will_run"] == ["verify"]  # on its own, after apply
    assert len(server.executor.requests) == 3  # nothing ran

    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"task": "apply"})
    assert r.status_code == 200, r.text
    assert r.json()["preview"] == preview
    wave = r.json()["wave"]
    assert (
        wave["started_tasks"] == ["apply"]
        and wave["trigger"] == "user"
        and wave["triggered_by"] == "writer_in"
    )
    await server.core.engine.wait_wave(wave["id"])
    tasks = await board(client, "ops-deploy")
    assert {n: t["run"] for n, t in tasks.items()} == {"plan": 1, "apply": 2, "verify": 2}
    assert server.executor.ran() == ["plan", "apply", "verify", "apply", "verify"]

    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"task": "nope"})
    assert r.status_code == 404
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"force": "sometimes"})
    assert r.status_code == 422


async def test_kill(server: Server):
    client = server.client("writer_in")
    r = await client.post(f"{API}/cascades/ops-deploy/tasks/plan/kill")
    assert r.status_code == 409 and "nothing to kill" in errors_of(r)["message"]
    server.executor.behave("plan", hang=True)
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={})
    await wait_for_state(client, "ops-deploy", "plan", "running")
    r = await client.post(f"{API}/cascades/ops-deploy/start", json={"task": "plan"})
    assert r.status_code == 409  # already running
    r = await client.post(f"{API}/cascades/ops-deploy/tasks/plan/kill")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "killed"
    run = (await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs/1")).json()
    assert run["state"] == "killed"
    assert (await board(client, "ops-deploy"))["apply"]["state"] == "not_started"  # children stay put


# ---------------------------------------------------------------------------- runs, logs, waves


async def test_runs_and_log_ranges(server: Server):
    server.executor.behaviors["plan"] = Behavior(logs=[b"first line\n", b"second line\n"])
    client = server.client("reader_in")
    wave = await run_all(server, "ops-deploy")
    await run_all(server, "ops-deploy")

    runs = (await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs")).json()
    assert [r["number"] for r in runs] == [2, 1]  # newest first
    run = (await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs/1")).json()
    assert run["state"] == "success" and run["exit_code"] == 0 and run["wave"] == wave
    assert run["trigger"] == "user" and run["triggered_by"] == "admin" and run["image"] == "img"
    assert run["stored"] == {"env": ["PLAN_ID"], "file": ["plan.txt"]}
    assert run["log_size"] == len("first line\nsecond line\n")

    logs = f"{API}/cascades/ops-deploy/tasks/plan/runs/1/logs"
    whole = (await client.get(logs)).json()
    assert whole == {
        "text": "first line\nsecond line\n",
        "offset": 0,
        "next_offset": 23,
        "truncated": False,
        "complete": True,
    }
    part = (await client.get(logs, params={"offset": 6, "limit": 4})).json()
    assert part["text"] == "line" and part["offset"] == 6 and part["next_offset"] == 10
    assert part["complete"] is False  # more text follows
    rest = (await client.get(logs, params={"offset": part["next_offset"]})).json()
    assert rest["text"] == "first line\nsecond line\n"[10:]
    assert rest["next_offset"] == 23 and rest["complete"] is True
    beyond = (await client.get(logs, params={"offset": 1000})).json()
    assert beyond["text"] == "" and beyond["complete"] is True

    assert (await client.get(logs, params={"offset": -1})).status_code == 400
    assert (await client.get(logs, params={"offset": "x"})).status_code == 400
    assert (await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs/9")).status_code == 404
    assert (await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs/one")).status_code == 404
    r = await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs", params={"kind": "other"})
    assert r.status_code == 400
    r = await client.get(f"{API}/cascades/ops-deploy/tasks/plan/runs", params={"kind": "check"})
    assert r.status_code == 200 and r.json() == []


async def test_waves(server: Server):
    client = server.client("reader_in")
    first = await run_all(server, "ops-deploy")
    second = await server.core.engine.start("ops-deploy", "verify", by="writer_in")
    await server.core.engine.wait_wave(second.id)

    waves = (await client.get(f"{API}/cascades/ops-deploy/waves")).json()
    assert [w["id"] for w in waves] == [second.id, first]
    assert waves[0]["started_tasks"] == ["verify"] and waves[0]["ended_at"] is not None
    detail = (await client.get(f"{API}/cascades/ops-deploy/waves/{first}")).json()
    assert sorted(r["task"] for r in detail["runs"]) == ["apply", "plan", "verify"]
    assert all(r["wave"] == first for r in detail["runs"])
    detail = (await client.get(f"{API}/cascades/ops-deploy/waves/{second.id}")).json()
    assert [r["task"] for r in detail["runs"]] == ["verify"]
    assert (await client.get(f"{API}/cascades/ops-deploy/waves/999")).status_code == 404
    assert (await client.get(f"{API}/cascades/open-cascade/waves/{first}")).status_code == 404


# ------------------------------------------------------------------------- inputs and datastore


async def test_inputs_mask_passwords_and_changes_reset_their_users(server: Server):
    client = server.client("writer_in")
    inputs = {i["name"]: i for i in (await client.get(f"{API}/cascades/ops-deploy/inputs")).json()}
    assert inputs["DB_PASSWORD"]["type"] == "password"
    assert inputs["DB_PASSWORD"]["value"] == "********" and inputs["DB_PASSWORD"]["default"] == "********"
    assert inputs["DB_PASSWORD"]["used_by"] == ["apply"]
    assert inputs["REGION"]["value"] == "eu-west-1"

    await run_all(server, "ops-deploy")
    r = await client.put(
        f"{API}/cascades/ops-deploy/inputs", json={"values": {"DB_PASSWORD": "n3w-pa55word"}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["reset"] == ["apply", "verify"]
    assert "n3w-pa55word" not in r.text
    masked = {i["name"]: i["value"] for i in r.json()["inputs"]}
    assert masked == {"DB_PASSWORD": "********", "REGION": "eu-west-1"}
    states = {n: t["state"] for n, t in (await board(client, "ops-deploy")).items()}
    assert states == {"plan": "success", "apply": "not_started", "verify": "not_started"}

    r = await client.put(
        f"{API}/cascades/ops-deploy/inputs", json={"values": {"DB_PASSWORD": "n3w-pa55word"}}
    )
    assert r.json()["reset"] == []  # the same value again changes nothing
    r = await client.put(f"{API}/cascades/ops-deploy/inputs", json={"values": {"NOPE": "x"}})
    assert r.status_code == 404
    r = await client.put(f"{API}/cascades/ops-deploy/inputs", json={"values": {"REGION": 5}})
    assert r.status_code == 422
    # the run gets the new value
    await server.core.engine.start("ops-deploy", "apply", by="writer_in")
    await server.core.engine.wait_idle()
    assert server.executor.requests[-2].task == "apply"
    assert "n3w-pa55word" in json.dumps(dataclasses.asdict(server.executor.requests[-2]), default=str)


async def test_values_text_binary_and_versions(server: Server):
    client = server.client("writer_in")
    url = f"{API}/cascades/ops-deploy/values/BUILD_ID"
    assert (await client.get(url)).status_code == 404
    r = await client.put(url, json={"text": "b-1"})
    assert r.status_code == 200, r.text
    assert r.json()["text"] == "b-1" and r.json()["version"] == 1 and r.json()["written_by"] == "writer_in"
    raw = b"\x00\xff\xfe binary"
    r = await client.put(url, json={"base64": base64.b64encode(raw).decode()})
    assert r.json()["version"] == 2 and r.json()["text"] is None
    assert base64.b64decode(r.json()["base64"]) == raw and r.json()["size"] == len(raw)

    got = (await client.get(url)).json()
    assert got["version"] == 2 and base64.b64decode(got["base64"]) == raw
    versions = (await client.get(f"{url}/versions")).json()
    assert [v["version"] for v in versions] == [2, 1] and versions[1]["text"] == "b-1"
    listed = (await client.get(f"{API}/cascades/ops-deploy/values")).json()
    assert [v["key"] for v in listed] == ["BUILD_ID"]

    for body in ({"text": "a", "base64": "YQ=="}, {}, {"base64": "not base64!"}):
        r = await client.put(url, json=body)
        assert r.status_code == 400, body
    assert (await client.put(f"{API}/cascades/ops-deploy/values/1BAD", json={"text": "x"})).status_code == 400
    assert (await client.get(f"{API}/cascades/ops-deploy/values/bad-key")).status_code == 400


async def test_files_upload_download_versions_delete(server: Server):
    client = server.client("writer_in")
    url = f"{API}/cascades/ops-deploy/files/report.csv"
    r = await client.put(url, content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv; charset=utf-8"})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info == {**info, "name": "report.csv", "version": 1, "size": 8, "content_type": "text/csv"}
    assert info["written_by"] == "writer_in"

    r = await client.get(url)
    assert r.status_code == 200 and r.content == b"a,b\n1,2\n"
    assert r.headers["content-type"].startswith("text/csv")
    assert 'filename="report.csv"' in r.headers["content-disposition"]
    assert r.headers["x-scaffold-version"] == "1"

    big = bytes(range(256)) * 1024  # 256 KiB, streamed both ways
    r = await client.put(url, content=big, headers={"Content-Type": "application/octet-stream"})
    assert r.json()["version"] == 2 and r.json()["size"] == len(big)
    assert (await client.get(url)).content == big
    versions = (await client.get(f"{url}/versions")).json()
    assert [(v["version"], v["size"]) for v in versions] == [(2, len(big)), (1, 8)]
    names = [f["name"] for f in (await client.get(f"{API}/cascades/ops-deploy/files")).json()]
    assert names == ["report.csv"]

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.delete(url)).status_code == 404
    assert (await client.get(f"{API}/cascades/ops-deploy/files")).json() == []
    assert (await client.get(f"{url}/versions")).status_code == 200  # the versions stay


async def test_file_size_limit_and_names(server: Server):
    client = server.client("writer_in")
    server.core.settings = dataclasses.replace(server.core.settings, file_limit_bytes=1024)
    base = f"{API}/cascades/ops-deploy/files"
    assert (await client.put(f"{base}/ok.bin", content=b"x" * 1024)).status_code == 200
    r = await client.put(f"{base}/big.bin", content=b"x" * 1025)
    assert r.status_code == 413 and errors_of(r)["code"]

    async def chunks():
        for _ in range(4):
            yield b"y" * 512

    r = await client.put(f"{base}/streamed.bin", content=chunks())  # no Content-Length
    assert r.status_code == 413
    assert (await client.get(f"{base}/big.bin")).status_code == 404
    assert (await client.get(f"{base}/streamed.bin")).status_code == 404

    for name in (".hidden", "a..b", "sp%20ace", "semi%3Bcolon", "x" * 300, "%00nul"):
        r = await client.put(f"{base}/{name}", content=b"x")
        assert r.status_code == 400, (name, r.text)
        assert (await client.get(f"{base}/{name}")).status_code == 400
    r = await client.put(f"{base}/..%2Fescape", content=b"x")
    assert r.status_code in (400, 404)
    assert [f["name"] for f in (await client.get(base)).json()] == ["ok.bin"]


# ----------------------------------------------------------------------------------- webhooks


async def test_webhooks(server: Server):
    client = server.client("writer_in")
    r = await client.post(f"{API}/cascades/ops-deploy/webhooks", json={"task": "verify"})
    assert r.status_code == 201, r.text
    hook = r.json()
    assert hook["task"] == "verify" and hook["url"].endswith(f"/api/v1/hooks/{hook['id']}") and hook["secret"]
    listed = (await client.get(f"{API}/cascades/ops-deploy/webhooks")).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    assert listed[0]["last_triggered_at"] is None

    caller = server.client()
    body = {"ref": "refs/heads/main", "commits": [{"id": "abc"}]}
    r = await caller.post(
        f"{API}/hooks/{hook['id']}", json=body, headers={"X-Scaffold-Secret": hook["secret"]}
    )
    assert r.status_code == 202, r.text
    wave = r.json()["wave"]
    assert wave["trigger"] == "webhook" and wave["started_tasks"] == ["verify"]
    await server.core.engine.wait_wave(wave["id"])
    request = server.executor.requests[-1]
    assert request.task == "verify" and json.loads(request.webhook_body) == body
    run = (await client.get(f"{API}/cascades/ops-deploy/tasks/verify/runs/1")).json()
    assert run["trigger"] == "webhook"
    listed = (await client.get(f"{API}/cascades/ops-deploy/webhooks")).json()
    assert listed[0]["last_triggered_at"] is not None

    r = await caller.post(f"{API}/hooks/{hook['id']}", params={"secret": hook["secret"]})  # no body
    assert r.status_code == 202
    await server.core.engine.wait_wave(r.json()["wave"]["id"])
    assert server.executor.requests[-1].webhook_body == b"{}"

    r = await caller.post(f"{API}/hooks/{hook['id']}", json=body, headers={"X-Scaffold-Secret": "wrong"})
    assert r.status_code == 401
    r = await caller.post(f"{API}/hooks/{hook['id']}", json=body)
    assert r.status_code == 401
    r = await caller.post(
        f"{API}/hooks/{hook['id']}", content=b"{not json", headers={"X-Scaffold-Secret": hook["secret"]}
    )
    assert r.status_code == 400

    r = await client.post(f"{API}/cascades/ops-deploy/webhooks", json={"task": "nope"})
    assert r.status_code == 404
    r = await client.delete(f"{API}/cascades/open-cascade/webhooks/{hook['id']}")
    assert r.status_code == 404  # not this cascade's
    assert (await client.delete(f"{API}/cascades/ops-deploy/webhooks/{hook['id']}")).status_code == 204
    r = await caller.post(
        f"{API}/hooks/{hook['id']}", json=body, headers={"X-Scaffold-Secret": hook["secret"]}
    )
    assert r.status_code == 401
    assert (await client.get(f"{API}/cascades/ops-deploy/webhooks")).json() == []


# ---------------------------------------------------------------------------- users and tokens


def basic(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


async def test_users_lifecycle(server: Server):
    admin = server.client("admin")
    r = await admin.post(
        f"{API}/users", json={"username": "carol", "password": "carol-password", "role": "write"}
    )
    assert r.status_code == 201, r.text
    assert r.json() == {**r.json(), "username": "carol", "role": "write", "groups": [], "disabled": False}
    assert (await admin.post(f"{API}/users", json={"username": "carol"})).status_code == 409
    assert (await admin.post(f"{API}/users", json={"username": "Bad Name"})).status_code == 400
    assert (await admin.post(f"{API}/users", json={"username": "dave", "role": "boss"})).status_code == 400
    r = await admin.post(f"{API}/users", json={"username": "dave", "password": "short"})
    assert r.status_code == 400
    assert (await admin.get(f"{API}/users/dave")).status_code == 404

    r = await admin.patch(f"{API}/users/carol", json={"role": "read", "groups": ["ops"]})
    assert r.status_code == 200 and r.json()["role"] == "read" and r.json()["groups"] == ["ops"]
    assert (await admin.get(f"{API}/users/carol")).json()["groups"] == ["ops"]

    # carol gets a token with her password, sees ops-deploy, changes her password
    anonymous = server.client()
    r = await anonymous.post(f"{API}/tokens", json={"name": "cli"}, headers=basic("carol", "carol-password"))
    assert r.status_code == 201, r.text
    carol = server.client()
    carol.headers["Authorization"] = f"Bearer {r.json()['token']}"
    me = (await carol.get(f"{API}/me")).json()
    assert (me["username"], me["role"], me["groups"], me["via"]) == ("carol", "read", ["ops"], "token")
    assert (await carol.get(f"{API}/cascades/ops-deploy")).status_code == 200
    assert (await carol.get(f"{API}/users/carol")).status_code == 200
    r = await carol.post(f"{API}/me/password", json={"old": "wrong-password", "new": "carol-new-password"})
    assert r.status_code == 400
    r = await carol.post(f"{API}/me/password", json={"old": "carol-password", "new": "carol-new-password"})
    assert r.status_code == 204
    r = await anonymous.post(f"{API}/login", json={"username": "carol", "password": "carol-password"})
    assert r.status_code == 401
    r = await anonymous.post(f"{API}/login", json={"username": "carol", "password": "carol-new-password"})
    assert r.status_code == 200 and r.json()["role"] == "read" and r.json()["csrf_token"]

    # a password change in one browser ends carol's other browser sessions, not the one that asked
    browsers = []
    for _ in range(2):
        browser = server.client()
        r = await browser.post(f"{API}/login", json={"username": "carol", "password": "carol-new-password"})
        browser.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        browsers.append(browser)
    r = await browsers[0].post(
        f"{API}/me/password", json={"old": "carol-new-password", "new": "carol-3rd-password"}
    )
    assert r.status_code == 204, r.text
    assert (await browsers[0].get(f"{API}/me")).status_code == 200
    assert (await browsers[1].get(f"{API}/me")).status_code == 401

    # the last admin cannot be removed or demoted
    assert (await admin.delete(f"{API}/users/admin")).status_code == 409
    assert (await admin.patch(f"{API}/users/admin", json={"role": "read"})).status_code == 409
    assert (await admin.patch(f"{API}/users/admin", json={"disabled": True})).status_code == 409

    assert (await admin.delete(f"{API}/users/carol")).status_code == 204
    assert (await carol.get(f"{API}/me")).status_code == 401  # her tokens went with her
    assert (await admin.delete(f"{API}/users/carol")).status_code == 404
    assert "carol" not in [u["username"] for u in (await admin.get(f"{API}/users")).json()]


async def test_tokens_lifecycle(server: Server):
    writer = server.client("writer_in")
    r = await writer.post(f"{API}/tokens", json={"name": "deploy bot", "expires_in_days": 1})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["token"].startswith("scf_") and created["username"] == "writer_in"
    assert abs(created["expires_at"] - created["created_at"] - 86400) < 5
    listed = (await writer.get(f"{API}/tokens")).json()
    assert created["id"] in [t["id"] for t in listed]
    assert all("token" not in t for t in listed)

    bot = server.client()
    bot.headers["Authorization"] = f"Bearer {created['token']}"
    assert (await bot.get(f"{API}/me")).json()["username"] == "writer_in"
    after = next(t for t in (await writer.get(f"{API}/tokens")).json() if t["id"] == created["id"])
    assert after["last_used_at"] is not None

    for body in ({"name": ""}, {"name": "x", "expires_in_days": 0}, {"name": "x", "expires_in_days": -1}):
        assert (await writer.post(f"{API}/tokens", json=body)).status_code == 422, body
    assert (await writer.delete(f"{API}/tokens/no-such-token")).status_code == 404

    assert (await writer.delete(f"{API}/tokens/{created['id']}")).status_code == 204
    assert (await bot.get(f"{API}/me")).status_code == 401
    revoked = next(t for t in (await writer.get(f"{API}/tokens")).json() if t["id"] == created["id"])
    assert revoked["revoked_at"] is not None

    r = await writer.post(f"{API}/tokens", json={"name": "x", "username": "admin"})
    assert r.status_code == 403  # only an admin makes tokens for others
    r = await server.client("admin").post(f"{API}/tokens", json={"name": "x", "username": "nobody"})
    assert r.status_code == 404
    admin_view = (await server.client("admin").get(f"{API}/tokens", params={"username": "writer_in"})).json()
    assert {t["username"] for t in admin_view} == {"writer_in"}


# -------------------------------------------------------------------------------------- audit


async def test_the_audit_log_records_who_did_what(server: Server):
    writer = server.client("writer_in")
    await apply(writer, PIPELINE)
    await writer.put(f"{API}/cascades/ops-deploy/inputs", json={"values": {"DB_PASSWORD": "n3w-pa55word"}})
    r = await writer.post(f"{API}/cascades/ops-deploy/start", json={})
    await server.core.engine.wait_wave(r.json()["wave"]["id"])
    server.executor.behave("build", hang=True)
    r = await writer.post(f"{API}/cascades/pipeline/start", json={"task": "build"})
    await wait_for_state(writer, "pipeline", "build", "running")
    assert (await writer.post(f"{API}/cascades/pipeline/tasks/build/kill")).status_code == 200
    await writer.put(f"{API}/cascades/ops-deploy/files/notes.txt", content=b"hi")

    r = await server.client("admin").get(f"{API}/audit")
    assert r.status_code == 200
    entries = r.json()
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    done = [(e["actor"], e["action"], e["target"]) for e in entries]
    for expected in [
        ("writer_in", "cascade.apply", "pipeline"),
        ("writer_in", "input.set", "ops-deploy"),
        ("writer_in", "cascade.start", "ops-deploy"),
        ("writer_in", "task.start", "pipeline/build"),
        ("writer_in", "task.kill", "pipeline/build"),
        ("writer_in", "file.upload", "ops-deploy/notes.txt"),
    ]:
        assert expected in done, (expected, done)
    assert "n3w-pa55word" not in r.text
    inputs_entry = next(e for e in entries if e["action"] == "input.set")
    assert inputs_entry["details"]["inputs"] == ["DB_PASSWORD"]

    page = (await server.client("admin").get(f"{API}/audit", params={"limit": 2})).json()
    assert page == entries[:2]
    older = (await server.client("admin").get(f"{API}/audit", params={"before": page[-1]["id"]})).json()
    assert older[0]["id"] < page[-1]["id"]


async def test_health_version_nodes_roles(server: Server):
    client = server.client("reader_out")
    health = (await server.client().get(f"{API}/health")).json()
    assert health["status"] == "ok" and health["executor"] == "fake"
    assert (await client.get(f"{API}/version")).json()["version"]
    nodes = (await client.get(f"{API}/nodes")).json()
    assert len(nodes) == 1 and nodes[0]["local"] is True and nodes[0]["state"] == "up"
    roles = {r["name"]: r["actions"] for r in (await client.get(f"{API}/roles")).json()}
    assert set(roles) == {"read", "write", "admin"}
    assert roles["read"] == ["view"] and "start" in roles["write"] and "manage_users" in roles["admin"]
    assert set(roles["read"]) < set(roles["write"]) < set(roles["admin"])
    assert PASSWORD not in json.dumps(roles)

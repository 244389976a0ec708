async def test_health_version_openapi_are_public(server):
    client = server.client()
    assert (await client.get("/api/v1/health")).json()["status"] == "ok"
    assert (await client.get("/api/v1/version")).status_code == 200
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.1") and "/api/v1/cascades" in doc["paths"]
    assert "Scaffold API" in (await client.get("/api/v1/docs")).text


async def test_errors_have_one_shape(server):
    client = server.client()
    r = await client.get("/api/v1/cascades")
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"code", "message", "details"}
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await server.client("admin").delete("/api/v1/health")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


async def test_start_a_cascade_and_read_its_board(server):
    client = server.client("writer_in")
    r = await client.post("/api/v1/cascades/ops-deploy/start", json={"dry_run": True})
    assert r.status_code == 200, r.text
    assert r.json()["wave"] is None and r.json()["preview"]["start"] == ["plan"]
    r = await client.post("/api/v1/cascades/ops-deploy/start", json={})
    assert r.status_code == 200, r.text
    wave = r.json()["wave"]["id"]
    await server.core.engine.wait_wave(wave)
    board = (await client.get("/api/v1/cascades/ops-deploy/tasks")).json()
    assert [t["state"] for t in board] == ["success"] * 3
    runs = (await client.get("/api/v1/cascades/ops-deploy/tasks/apply/runs")).json()
    assert runs[0]["wave"] == wave


async def test_login_attempts_are_rate_limited_with_retry_after(server):
    client = server.client()
    statuses = []
    for _ in range(8):
        r = await client.post("/api/v1/login", json={"username": "reader_in", "password": "wrong-password"})
        statuses.append(r.status_code)
    assert statuses[0] == 401 and statuses[-1] == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"

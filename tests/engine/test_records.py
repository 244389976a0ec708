from scaffold.engine.records import RunKind, RunRow


def test_run_ids_never_collide_across_dotted_names():
    # names may contain '.', so a dotted join would give both of these the id "a.b.c.1"
    assert RunRow("a.b", "c", 1).run_id != RunRow("a", "b.c", 1).run_id
    assert RunRow("a", "b", 1).run_id == "a:b:1"
    assert RunRow("a", "b", 1, kind=RunKind.CHECK).run_id == "a:b:check-1"


def test_docker_container_names_stay_distinct_and_valid(tmp_path):
    import re

    from scaffold.executors.docker import DockerExecutor

    ex = DockerExecutor(tmp_path, instance_id="abc")
    one, two = ex.container_name("a.b:c:1"), ex.container_name("a:b.c:1")
    assert one != two
    assert all(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", n) for n in (one, two))

"""engine.spec: cascade files -> validated dataclasses, or every problem with its line and column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scaffold.engine import spec as spec_module
from scaffold.engine.model import (
    CascadeSpec,
    CheckSpec,
    DataRefs,
    Dependency,
    DependencyKind,
    InputSpec,
    InputType,
    Retries,
    TaskSpec,
)
from scaffold.engine.spec import SpecInvalid, SpecProblem, load_file, parse_cascade, parse_duration
from scaffold.errors import InvalidInput, ValidationFailed

BROKEN = Path(__file__).parent / "broken"
EXAMPLES = Path(__file__).parents[2] / "examples"
BROKEN_FILES = sorted(p for p in BROKEN.iterdir() if p.suffix != ".expect")
PARSERS = ["pure", "libyaml"] if spec_module.USE_C_PARSER else ["pure"]


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each available parser: both must give the same results."""
    monkeypatch.setattr(spec_module, "USE_C_PARSER", request.param == "libyaml")
    return request.param


def problems_of(text: str | bytes, **kwargs: bool) -> list[str]:
    with pytest.raises(SpecInvalid) as info:
        parse_cascade(text, "test.yaml", **kwargs)
    return [str(p) for p in info.value.problems]


def expectations(path: Path) -> list[str]:
    sidecar = path.with_name(path.name + ".expect")
    if sidecar.exists():
        return sidecar.read_text().splitlines()
    lines = path.read_text().splitlines()
    return [line.removeprefix("# expect: ") for line in lines if line.startswith("# expect: ")]


# ----------------------------------------------------------------------------------------------
# The broken corpus: one kind of error per file, its expectation inside (or beside) it.


def test_the_corpus_is_big_enough() -> None:
    assert len(BROKEN_FILES) >= 35


@pytest.mark.parametrize("path", BROKEN_FILES, ids=lambda p: p.name)
def test_broken_file_reports_exactly_its_problems(path: Path, parser: str) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} carries no expectation"
    assert problems_of(path.read_bytes()) == expected


# ----------------------------------------------------------------------------------------------
# Valid files


def test_simple_example_parses_into_dataclasses(parser: str) -> None:
    cascade = load_file(EXAMPLES / "simple.yaml")
    assert cascade.name == "foobar"
    assert cascade.version == "v1"
    assert cascade.inputs == (
        InputSpec("file_contents", InputType.TEXT, "File contents to read and write", "foobar"),
        InputSpec("message_contents", InputType.PASSWORD, "Message contents to write", "hello world"),
    )
    assert cascade.task_names == ["write_file", "store_env_var", "print_file_and_env"]
    write, store, show = cascade.tasks
    assert write == TaskSpec(
        name="write_file",
        image="ubuntu:20.04",
        run='echo "FOOBAR" > /tmp/run/myFile.txt\n',
        store=DataRefs(file=("myFile.txt",)),
        line=13,
    )
    assert store.store == DataRefs(env=("MESSAGE",))
    assert show.depends_on == (Dependency("write_file"), Dependency("store_env_var"))
    assert show.load == DataRefs(env=("MESSAGE",), file=("myFile.txt",))
    assert (store.line, show.line) == (20, 27)


def test_application_deploy_example(parser: str) -> None:
    cascade = load_file(EXAMPLES / "application-deploy.yaml")
    assert cascade.name == "application-deploy"
    assert len(cascade.tasks) == 15
    assert len(cascade.inputs) == 8
    assert [i.name for i in cascade.inputs if i.secret] == [
        "ARTIFACTORY_PASSWORD",
        "POSTGRES_ADMIN_PASSWORD",
        "POSTGRES_PORTAL_PASSWORD",
        "POSTGRES_API_PASSWORD",
    ]
    schemas = cascade.task("create_db_schemas")
    assert schemas.inputs == (
        ("POSTGRES_ADMIN_USERNAME", "POSTGRES_ADMIN_USERNAME"),
        ("POSTGRES_ADMIN_PASSWORD", "POSTGRES_ADMIN_PASSWORD"),
    )
    assert cascade.task("deregister_old").parents == ("east_coast_check", "midwest_check", "west_coast_check")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_valid(path: Path) -> None:
    assert isinstance(load_file(path), CascadeSpec)


@pytest.mark.skipif(len(PARSERS) < 2, reason="ruamel.yaml.clib is not installed: only one parser")
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_both_parsers_build_the_same_spec(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_c = load_file(path)
    monkeypatch.setattr(spec_module, "USE_C_PARSER", False)
    assert load_file(path) == with_c
    assert [t.line for t in load_file(path).tasks] == [t.line for t in with_c.tasks]


FULL = """\
version: v1
name: full.cascade-1
description: Every field
groups: [ops, dba]
links:
  Runbook: https://wiki.example/deploy
  Grafana: http://grafana.local/d/1
inputs:
  - name: PG_PASS
    type: secret
    description: admin password
    default: changeme
  - name: DEBUG
    type: plaintext
    default: true
  - name: PORT
    default: 5432
  - name: RATIO
    default: 1.50
  - name: EMPTY
    default:
tasks:
  - name: build
    image: alpine:3
    shell: /bin/ash
    run: make
    store: {env: [VERSION], file: [app.tar]}
    timeout: 1h30m
    retries: 2
    runs_on: [gpu, eu-west]
    auto_execute: false
    disabled: true
  - name: deploy
    image: alpine:3
    run: ./deploy
    depends_on:
      success: [build]
      always: []
    inputs: [PG_PASS, DEBUG]
    env: {REPLICAS: 3, VERBOSE: False, NAME: web, RATIO: 0.5}
    load: {file: [app.tar]}
    retries: {count: 3, delay: 90s}
    check:
      interval: 30s
      run: curl -f http://web
      inputs: {PASSWORD: PG_PASS}
      env: {TIMEOUT: 5}
      load: {env: [VERSION]}
  - name: notify
    run: echo failed
    image: alpine:3
    depends_on: {error: [deploy], always: [build]}
    check: {interval: 2m, run: "true", image: "curlimages/curl"}
"""


def test_every_field_is_read(parser: str) -> None:
    cascade = parse_cascade(FULL)
    assert cascade.name == "full.cascade-1"
    assert cascade.description == "Every field"
    assert cascade.groups == ("ops", "dba")
    assert cascade.links == (
        ("Runbook", "https://wiki.example/deploy"),
        ("Grafana", "http://grafana.local/d/1"),
    )
    assert cascade.inputs == (
        InputSpec("PG_PASS", InputType.PASSWORD, "admin password", "changeme"),
        InputSpec("DEBUG", InputType.TEXT, "", "true"),
        InputSpec("PORT", InputType.TEXT, "", "5432"),
        InputSpec("RATIO", InputType.TEXT, "", "1.50"),
        InputSpec("EMPTY", InputType.TEXT, "", None),
    )
    build, deploy, notify = cascade.tasks
    assert build == TaskSpec(
        name="build",
        run="make",
        image="alpine:3",
        shell="/bin/ash",
        store=DataRefs(env=("VERSION",), file=("app.tar",)),
        timeout=5400.0,
        retries=Retries(count=2),
        runs_on=("gpu", "eu-west"),
        auto_execute=False,
        disabled=True,
        line=23,
    )
    assert deploy.depends_on == (Dependency("build", DependencyKind.SUCCESS),)
    assert deploy.inputs == (("PG_PASS", "PG_PASS"), ("DEBUG", "DEBUG"))
    assert deploy.env == (("REPLICAS", "3"), ("VERBOSE", "false"), ("NAME", "web"), ("RATIO", "0.5"))
    assert deploy.load == DataRefs(file=("app.tar",))
    assert deploy.retries == Retries(count=3, delay=90.0)
    assert deploy.check == CheckSpec(
        interval=30.0,
        run="curl -f http://web",
        inputs=(("PASSWORD", "PG_PASS"),),
        env=(("TIMEOUT", "5"),),
        load=DataRefs(env=("VERSION",)),
    )
    assert deploy.input_names() == {"PG_PASS", "DEBUG"}
    assert notify.depends_on == (
        Dependency("deploy", DependencyKind.ERROR),
        Dependency("build", DependencyKind.ALWAYS),
    )
    assert notify.check == CheckSpec(interval=120.0, run="true", image="curlimages/curl")


def test_json_text_is_yaml(parser: str) -> None:
    text = json.dumps(
        {"version": "v1", "name": "j", "tasks": [{"name": "a", "image": "u", "run": "r", "retries": 1}]}
    )
    cascade = parse_cascade(text)
    assert cascade.tasks[0].retries == Retries(count=1)
    assert cascade.tasks[0].line == 1


def test_anchors_aliases_and_merge_keys(parser: str) -> None:
    text = """\
version: v1
name: anchors
x-defaults: &defaults
  image: ubuntu:24.04
  shell: /bin/bash
  retries: {count: 1, delay: 5s}
x-env: &env {REGION: eu, TIER: web}
tasks:
  - <<: *defaults
    name: a
    run: echo a
    env: *env
  - <<: [*defaults, {image: overridden, timeout: 10m}]
    name: b
    image: mine
    run: &script echo shared
    depends_on: &deps [a]
  - name: c
    <<: *defaults
    run: *script
    depends_on: *deps
"""
    a, b, c = parse_cascade(text).tasks
    assert (a.image, a.shell, a.retries) == ("ubuntu:24.04", "/bin/bash", Retries(1, 5.0))
    assert a.env == (("REGION", "eu"), ("TIER", "web"))
    assert (b.image, b.timeout, b.shell) == ("mine", 600.0, "/bin/bash")
    assert (c.run, c.parents, c.image) == ("echo shared", ("a",), "ubuntu:24.04")


def test_a_reused_anchor_name_takes_the_latest_definition(parser: str) -> None:
    text = """\
name: reuse
tasks:
  - {name: a, image: &img one, run: x}
  - {name: b, image: &img two, run: x}
  - {name: c, image: *img, run: x}
"""
    assert parse_cascade(text).task("c").image == "two"


def test_explicit_tags_and_quoted_scalars(parser: str) -> None:
    text = """\
name: tags
tasks:
  - name: '2024'
    image: !!str 20.04
    run: "true"
    disabled: !!bool "false"
    retries: !!int "2"
"""
    task = parse_cascade(text).tasks[0]
    assert (task.name, task.image, task.run, task.disabled, task.retries.count) == (
        "2024",
        "20.04",
        "true",
        False,
        2,
    )


def test_a_yaml_directive_and_explicit_document_markers(parser: str) -> None:
    text = "%YAML 1.2\n---\nname: d\ntasks: [{name: a, image: u, run: r}]\n...\n"
    assert parse_cascade(text).name == "d"


@pytest.mark.parametrize(
    "data",
    [
        "\ufeffname: bom\ntasks: [{name: a, image: u, run: r}]\n".encode(),
        "name: bom\ntasks: [{name: a, image: u, run: r}]\n".encode("utf-16"),
        "\ufeffname: bom\ntasks: [{name: a, image: u, run: r}]\n",
    ],
    ids=["utf-8-bom", "utf-16", "str-with-bom"],
)
def test_byte_order_marks(data: str | bytes, parser: str) -> None:
    assert parse_cascade(data).name == "bom"


def test_tabs_inside_values_are_fine(parser: str) -> None:
    text = (
        'name: tabs\ntasks:\n  - name: a\n    image: u\n    run: "printf \'a\\tb\'"\n    env: {SEP: "\t"}\n'
    )
    assert parse_cascade(text).tasks[0].env == (("SEP", "\t"),)


def test_image_can_be_made_optional(parser: str) -> None:
    text = "name: host\ntasks:\n  - name: a\n    run: uptime\n"
    assert problems_of(text) == [
        "line 3, col 5: tasks[0]: missing required key 'image' (the container image to run in)"
    ]
    assert parse_cascade(text, require_image=False).tasks[0].image is None


# ----------------------------------------------------------------------------------------------
# Reporting


FIVE_ERRORS = """\
version: v1
name: five
tasks:
  - name: deploy_terraform
    image: ubuntu:24.04
    run: terraform apply
    timout: 30m
  - name: create_db_schemas
    image: ubuntu:24.04
    run: psql -f schema.sql
    depends_on: [deploy_terafrom]
    auto_execute: yes
  - name: deploy_terraform
    run: echo twice
    store: {file: [/etc/passwd]}
"""


def test_every_problem_is_reported_at_once(parser: str) -> None:
    assert problems_of(FIVE_ERRORS) == [
        "line 7, col 5: tasks[0]: unknown key 'timout' (did you mean 'timeout'?)",
        "line 11, col 18: tasks[1].depends_on: unknown task 'deploy_terafrom'"
        " (did you mean 'deploy_terraform'?)",
        "line 12, col 19: tasks[1].auto_execute: expected true or false, got the string 'yes'",
        "line 13, col 5: tasks[2]: missing required key 'image' (the container image to run in)",
        "line 13, col 11: tasks[2].name: duplicate task name 'deploy_terraform' (first defined at line 4)",
        "line 15, col 20: tasks[2].store.file[0]: bad file name '/etc/passwd': use a plain file name "
        "(no '/', not starting with '.')",
    ]


def test_the_error_carries_problems_details_and_a_summary() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_cascade(FIVE_ERRORS, "deploy.yaml")
    error = info.value
    assert isinstance(error, SpecInvalid)
    assert str(error) == error.message == "6 problems in deploy.yaml"
    assert error.status == 422
    assert error.details[0] == {
        "line": 7,
        "col": 5,
        "path": "tasks[0]",
        "message": "unknown key 'timout' (did you mean 'timeout'?)",
    }
    assert json.loads(json.dumps(error.to_dict()))["error"]["code"] == "validation_failed"
    with pytest.raises(SpecInvalid, match=r"^1 problem in <string>$"):
        parse_cascade("name: x\n")


def test_problem_formatting() -> None:
    problem = SpecProblem(14, 7, "tasks[2].depends_on", "unknown task 'x'")
    assert str(problem) == "line 14, col 7: tasks[2].depends_on: unknown task 'x'"
    assert problem.to_dict() == {
        "line": 14,
        "col": 7,
        "path": "tasks[2].depends_on",
        "message": "unknown task 'x'",
    }
    assert str(SpecProblem(1, 1, "", "the file is empty")) == "line 1, col 1: the file is empty"


def test_a_cycle_is_named_once_starting_from_its_first_task(parser: str) -> None:
    text = """\
name: loops
tasks:
  - {name: x, image: u, run: r}
  - {name: b, image: u, run: r, depends_on: [a]}
  - {name: c, image: u, run: r, depends_on: [b]}
  - {name: a, image: u, run: r, depends_on: {success: [c], error: [x]}}
"""
    assert problems_of(text) == ["line 4, col 45: tasks[1].depends_on: dependency cycle: b -> c -> a -> b"]


def test_big_cascades_validate_without_recursion_limits() -> None:
    chain = ["name: big", "tasks:"]
    for i in range(10_000):
        parent = f", depends_on: [t{i - 1}]" if i else ""
        chain.append(f"  - {{name: t{i}, image: u, run: r{parent}}}")
    cascade = parse_cascade("\n".join(chain))
    assert len(cascade.tasks) == 10_000
    assert cascade.tasks[-1].line == 10_002
    chain[2] = "  - {name: t0, image: u, run: r, depends_on: [t9999]}"
    assert problems_of("\n".join(chain)) == [
        "line 3, col 46: tasks[0].depends_on: dependency cycle: t0 -> t1 -> t2 -> t3 -> t4 -> t5 -> t6 "
        "-> t7 -> t8 -> t9 -> ... (9981 more) -> t9991 -> t9992 -> t9993 -> t9994 -> t9995 -> t9996 "
        "-> t9997 -> t9998 -> t9999 -> t0"
    ]


def test_load_file_reports_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"cannot read .*missing\.yaml: No such file or directory"):
        load_file(tmp_path / "missing.yaml")


def test_problems_name_the_source_file(tmp_path: Path) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_text("name: x\n")
    with pytest.raises(SpecInvalid, match=r"1 problem in .*deploy\.yaml"):
        load_file(path)


# ----------------------------------------------------------------------------------------------
# Durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("2h", 7200.0),
        ("1h30m", 5400.0),
        ("1d2h", 93600.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("45", 45.0),
        (" 10s ", 10.0),
        (0, 0.0),
        (12, 12.0),
        (2.5, 2.5),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["-5s", -1, -0.5, "", "5 minutes", "1x", "h", "1h 30m", "m5", True, None, float("nan"), float("inf"), []],
)
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(value)

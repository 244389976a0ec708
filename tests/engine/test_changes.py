"""engine.changes: what re-applying a cascade changes, resets, adds and removes."""

from __future__ import annotations

import json

from scaffold.engine.changes import CascadeChanges, diff_cascades
from scaffold.engine.spec import parse_cascade

BASE = """\
version: v1
name: deploy
description: the app
inputs:
  - name: PG_PASS
    type: password
    description: admin password
    default: changeme
  - name: REGION
    default: eu
tasks:
  - name: terraform
    image: hashicorp/terraform:1.9
    run: terraform apply
  - name: schemas
    image: postgres:16
    run: psql -f schema.sql
    depends_on: [terraform]
    inputs: [PG_PASS]
  - name: build
    image: docker:27
    run: docker build .
  - name: deploy
    image: alpine:3
    run: ./deploy
    depends_on: [schemas, build]
  - name: smoke
    image: alpine:3
    run: ./smoke
    depends_on: {always: [deploy]}
"""


def changed(text: str, old: str = BASE) -> CascadeChanges:
    return diff_cascades(parse_cascade(old), parse_cascade(text))


def test_first_apply_adds_everything() -> None:
    changes = diff_cascades(None, parse_cascade(BASE))
    assert changes.added == ("terraform", "schemas", "build", "deploy", "smoke")
    assert changes.inputs_added == ("PG_PASS", "REGION")
    assert changes.reset == changes.changed == changes.removed == changes.unchanged == ()
    assert changes.summary()[:2] == ["added task terraform", "added task schemas"]
    assert bool(changes)


def test_the_same_file_changes_nothing() -> None:
    changes = changed(BASE)
    assert not changes
    assert changes.unchanged == ("terraform", "schemas", "build", "deploy", "smoke")
    assert changes.summary() == ["no changes"]


def test_moving_a_task_in_the_file_is_not_a_change() -> None:
    moved = BASE.replace(
        "tasks:\n", "tasks:\n  - name: build\n    image: docker:27\n    run: docker build .\n", 1
    )
    moved = moved.replace(
        "  - name: build\n    image: docker:27\n    run: docker build .\n  - name: deploy", "  - name: deploy"
    )
    changes = changed(moved)
    assert parse_cascade(moved).tasks[0].name == "build"
    assert not changes
    assert changes.unchanged == ("build", "terraform", "schemas", "deploy", "smoke")


def test_a_changed_task_resets_itself_and_its_descendants_in_file_order() -> None:
    changes = changed(
        BASE.replace("terraform:1.9", "terraform:1.10").replace("run: terraform apply", "run: tf apply")
    )
    assert changes.changed == ("terraform",)
    assert changes.changed_fields == {"terraform": ("run", "image")}
    assert changes.reset == ("terraform", "schemas", "deploy", "smoke")
    assert changes.reset_reasons == {
        "terraform": "changed: run, image",
        "schemas": "downstream of terraform",
        "deploy": "downstream of terraform",
        "smoke": "downstream of terraform",
    }
    assert changes.unchanged == ("schemas", "build", "deploy", "smoke")
    assert changes.summary() == [
        "changed task terraform: run, image",
        "reset schemas (downstream of terraform)",
        "reset deploy (downstream of terraform)",
        "reset smoke (downstream of terraform)",
    ]


def test_added_and_removed_tasks() -> None:
    text = BASE.replace(
        "  - name: smoke\n    image: alpine:3\n    run: ./smoke\n    depends_on: {always: [deploy]}\n",
        "  - name: notify\n    image: alpine:3\n    run: ./notify\n    depends_on: {error: [deploy]}\n",
    )
    changes = changed(text)
    assert changes.added == ("notify",)
    assert changes.removed == ("smoke",)
    assert changes.reset == ()
    assert changes.summary() == ["added task notify", "removed task smoke"]


def test_a_dependency_change_is_a_definition_change() -> None:
    changes = changed(BASE.replace("depends_on: {always: [deploy]}", "depends_on: {error: [deploy]}"))
    assert changes.changed_fields == {"smoke": ("depends_on",)}
    assert changes.reset == ("smoke",)


def test_resets_flow_through_an_added_task_to_existing_children() -> None:
    text = BASE.replace("depends_on: [schemas, build]", "depends_on: [gate, build]").replace(
        "  - name: build\n",
        "  - name: gate\n    image: alpine:3\n    run: 'true'\n    depends_on: [schemas]\n  - name: build\n",
    )
    changes = changed(text.replace("run: psql -f schema.sql", "run: psql -f v2.sql"))
    assert changes.added == ("gate",)
    assert changes.changed == ("schemas", "deploy")
    assert changes.reset == ("schemas", "deploy", "smoke")
    assert "gate" not in changes.reset_reasons


def test_fan_in_descendants_are_reset_once() -> None:
    text = BASE.replace("run: psql -f schema.sql", "run: psql").replace(
        "run: docker build .", "run: docker build -q ."
    )
    changes = changed(text)
    assert changes.changed == ("schemas", "build")
    assert changes.reset == ("schemas", "build", "deploy", "smoke")
    assert changes.reset_reasons["deploy"] == "downstream of schemas"


def test_an_input_default_change_resets_its_value_and_its_readers() -> None:
    changes = changed(BASE.replace("default: changeme", "default: s3cret"))
    assert changes.inputs_changed == ("PG_PASS",)
    assert changes.inputs_changed_fields == {"PG_PASS": ("default",)}
    assert changes.inputs_reset == ("PG_PASS",)
    assert changes.changed == ()
    assert changes.reset == ("schemas", "deploy", "smoke")
    assert changes.reset_reasons["schemas"] == "reads input PG_PASS, whose default changed"
    assert changes.reset_reasons["smoke"] == "downstream of schemas"
    assert changes.summary() == [
        "reset schemas (reads input PG_PASS, whose default changed)",
        "reset deploy (downstream of schemas)",
        "reset smoke (downstream of schemas)",
        "changed input PG_PASS: default (value reset to the default)",
    ]


def test_an_input_type_change_resets_too() -> None:
    changes = changed(BASE.replace("type: password", "type: text"))
    assert changes.inputs_reset == ("PG_PASS",)
    assert changes.reset_reasons["schemas"] == "reads input PG_PASS, whose type changed"


def test_a_description_only_input_change_resets_nothing() -> None:
    changes = changed(BASE.replace("description: admin password", "description: the admin password"))
    assert changes.inputs_changed == ("PG_PASS",)
    assert changes.inputs_reset == ()
    assert changes.reset == ()
    assert changes.summary() == ["changed input PG_PASS: description"]


def test_inputs_added_and_removed() -> None:
    text = BASE.replace("  - name: REGION\n    default: eu\n", "  - name: ZONE\n")
    changes = changed(text)
    assert changes.inputs_added == ("ZONE",)
    assert changes.inputs_removed == ("REGION",)
    assert changes.reset == ()  # nobody read either of them


def test_a_new_input_read_by_a_task_resets_through_the_task_change() -> None:
    text = BASE.replace("  - name: REGION\n", "  - name: ZONE\n  - name: REGION\n").replace(
        "inputs: [PG_PASS]", "inputs: [PG_PASS, ZONE]"
    )
    changes = changed(text)
    assert changes.changed_fields == {"schemas": ("inputs",)}
    assert changes.reset == ("schemas", "deploy", "smoke")


def test_cascade_fields_are_listed_and_reset_nothing() -> None:
    changes = changed(BASE.replace("description: the app", "description: the app, v2\ngroups: [ops]"))
    assert changes.cascade_changed == ("description", "groups")
    assert changes.reset == ()
    assert bool(changes)
    assert changes.summary() == ["changed cascade: description, groups"]


def test_to_dict_is_json() -> None:
    changes = changed(
        BASE.replace("default: changeme", "default: x").replace("run: ./smoke", "run: ./smoke -v")
    )
    data = json.loads(json.dumps(changes.to_dict()))
    assert data["changed"] == [{"task": "smoke", "fields": ["run"]}]
    assert data["reset"][0] == {"task": "schemas", "reason": "reads input PG_PASS, whose default changed"}
    assert data["inputs_changed"] == [{"input": "PG_PASS", "fields": ["default"], "value_reset": True}]
    assert data["summary"] == changes.summary()

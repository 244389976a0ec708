"""The validated cascade definition: frozen dataclasses produced by ``engine.spec``.

Nothing here parses or validates; it only describes a cascade that has already passed validation.
Every front end, the scheduler and the store speak in these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DependencyKind(StrEnum):
    """How a child depends on a parent (SPEC 3.3)."""

    SUCCESS = "success"  # the parent must end in success
    ERROR = "error"  # the parent must end in error
    ALWAYS = "always"  # the parent must end in success or error


class InputType(StrEnum):
    TEXT = "text"
    PASSWORD = "password"


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: InputType = InputType.TEXT
    description: str = ""
    default: str | None = None

    @property
    def secret(self) -> bool:
        return self.type is InputType.PASSWORD


@dataclass(frozen=True)
class Dependency:
    parent: str
    kind: DependencyKind = DependencyKind.SUCCESS


@dataclass(frozen=True)
class DataRefs:
    """The ``load`` / ``store`` blocks: datastore env value names and file names."""

    env: tuple[str, ...] = ()
    file: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.env or self.file)


@dataclass(frozen=True)
class Retries:
    count: int = 0
    delay: float = 0.0  # seconds between an errored attempt and the next one


@dataclass(frozen=True)
class CheckSpec:
    """A recurring health check run while its task is in ``success`` (SPEC 3.6)."""

    interval: float  # seconds
    run: str
    image: str | None = None  # default: the task's image
    inputs: tuple[tuple[str, str], ...] = ()  # (ENV_NAME, input_name)
    env: tuple[tuple[str, str], ...] = ()
    load: DataRefs = DataRefs()


@dataclass(frozen=True)
class TaskSpec:
    name: str
    run: str
    image: str | None = None
    shell: str = "/bin/sh"
    depends_on: tuple[Dependency, ...] = ()
    auto_execute: bool = True
    inputs: tuple[tuple[str, str], ...] = ()  # (ENV_NAME, input_name), in file order
    env: tuple[tuple[str, str], ...] = ()
    load: DataRefs = DataRefs()
    store: DataRefs = DataRefs()
    check: CheckSpec | None = None
    timeout: float | None = None  # seconds
    retries: Retries = Retries()
    runs_on: tuple[str, ...] = ()
    disabled: bool = False
    line: int = 0  # 1-based line of the task in its file (0 when unknown)

    @property
    def parents(self) -> tuple[str, ...]:
        return tuple(d.parent for d in self.depends_on)

    def input_names(self) -> set[str]:
        """Every input this task or its check reads."""
        names = {name for _, name in self.inputs}
        if self.check is not None:
            names |= {name for _, name in self.check.inputs}
        return names


@dataclass(frozen=True)
class CascadeSpec:
    name: str
    tasks: tuple[TaskSpec, ...]
    version: str = "v1"
    description: str = ""
    groups: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (title, url)
    inputs: tuple[InputSpec, ...] = ()
    _by_name: dict[str, TaskSpec] = field(default=None, init=False, repr=False, compare=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.tasks})

    def task(self, name: str) -> TaskSpec:
        return self._by_name[name]

    def has_task(self, name: str) -> bool:
        return name in self._by_name

    def input(self, name: str) -> InputSpec | None:
        return next((i for i in self.inputs if i.name == name), None)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]

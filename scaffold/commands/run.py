"""``scaffold run``: run a cascade standalone in a data directory, with a live view of its tasks."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from scaffold.errors import ScaffoldError

EXIT_TASK_FAILED = 1
EXIT_INTERRUPTED = 130


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}' is not NAME=VALUE", param_hint="--input")
        values[name] = value
    return values


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Set an input's value (repeatable). The value is kept in the data directory for later runs.",
)
@click.option(
    "--task", "-t", metavar="NAME", help="Start only this task (and what follows it), not the whole cascade."
)
@click.option(
    "--executor",
    type=click.Choice(["docker", "process"]),
    help="Where tasks run: docker (default) or process (host, private /tmp/run).",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print the final state of every task as one JSON document on stdout.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where state is kept [env: SCAFFOLD_DATA_DIR; default: ~/.local/share/scaffold].",
)
@click.option("--max-running", type=int, help="How many tasks may run at once [default: 8].")
@click.option("--force", is_flag=True, help="Kill running tasks downstream of the started task first.")
def command(
    file: Path,
    inputs: tuple[str, ...],
    task: str | None,
    executor: str | None,
    output: str,
    data_dir: Path | None,
    max_running: int | None,
    force: bool,
) -> None:
    """Run the cascade in FILE until its wave ends.

    State is kept in the data directory: running the same file again updates the cascade in place
    (changed tasks are reset) and starts it again; after a crash it first settles what was left
    running (adopting live containers). Exits 0 only if every task that ran succeeded and nothing
    is left blocked; 1 if a task failed or is blocked; 2 for an invalid file or usage; 130 on
    Ctrl-C (running tasks are killed).
    """
    from scaffold.config import load_settings
    from scaffold.engine.spec import parse_cascade

    try:
        settings = load_settings({"data_dir": data_dir, "executor": executor, "max_running": max_running})
        raw = file.read_bytes()
        spec = parse_cascade(raw, source=str(file), require_image=settings.executor == "docker")
        text = raw.decode("utf-8")  # valid: parse_cascade refuses anything else
        values = _parse_inputs(inputs)
        unknown = [name for name in values if spec.input(name) is None]
        if unknown:
            known = ", ".join(i.name for i in spec.inputs) or "none"
            raise click.BadParameter(
                f"'{spec.name}' has no input '{unknown[0]}' (inputs: {known})", param_hint="--input"
            )
    except OSError as exc:
        raise click.FileError(str(file), exc.strerror) from None
    except ScaffoldError as exc:
        _fail(exc)
    try:
        code = asyncio.run(_run(settings, spec, text, values, task, output, force))
    except BrokenPipeError:  # e.g. `scaffold run x.yaml | head`: the reader went away
        sys.stderr.close()
        code = EXIT_TASK_FAILED
    sys.exit(code)


def _fail(exc: ScaffoldError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    for problem in getattr(exc, "problems", None) or exc.details:
        click.echo(f"  {problem}", err=True)
    sys.exit(2 if exc.exit_code == 2 else exc.exit_code)


async def _run(
    settings: Any, spec: Any, text: str, values: dict[str, str], task: str | None, output: str, force: bool
) -> int:
    from scaffold.app import open_core
    from scaffold.commands.run_view import RunView

    try:
        core = await open_core(settings)
    except ScaffoldError as exc:
        _fail(exc)
    view = RunView(spec, core, json_mode=output == "json")
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupted.set)
    loop.add_signal_handler(signal.SIGTERM, interrupted.set)
    try:
        with view:
            waves = await _begin(core, spec, text, values, task, force, view)
            done = asyncio.ensure_future(asyncio.gather(*(core.engine.wait_wave(w) for w in waves)))
            stop = asyncio.ensure_future(interrupted.wait())
            await asyncio.wait({done, stop}, return_when=asyncio.FIRST_COMPLETED)
            if stop.done() and not done.done():
                view.note("interrupted: killing running tasks...")
                await core.engine.close(kill_running=True)
                done.cancel()
            stop.cancel()
            result = await view.summary(waves)
    except ScaffoldError as exc:
        await core.close(kill_running=True)
        _fail(exc)
    except BaseException:
        await core.close(kill_running=True)  # never leave tasks running behind a crashed view
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
    view.print_verdict()
    await core.close()
    if output == "json":
        click.echo(json.dumps(result["document"], indent=2))
    if interrupted.is_set():
        return EXIT_INTERRUPTED
    return 0 if result["ok"] else EXIT_TASK_FAILED


async def _begin(
    core: Any, spec: Any, text: str, values: dict[str, str], task: str | None, force: bool, view: Any
) -> list[int]:
    """Apply, set inputs, then start -- or resume what a crashed run left active."""
    engine = core.engine
    active_waves = sorted({a.run.wave_id for a in engine._active.values() if a.cascade == spec.name})
    if active_waves:
        view.note(
            f"resuming: {len(active_waves)} wave(s) of '{spec.name}' were still active; "
            "following them to the end"
        )
        return [w for w in active_waves if w is not None]
    result = await engine.apply(spec, text, by="cli")
    if not result.changes:
        view.note(f"'{spec.name}' is unchanged (version {result.version})")
    elif len(result.changes.added) == len(spec.tasks):
        view.note(f"applied '{spec.name}': {len(spec.tasks)} tasks, {len(spec.inputs)} inputs")
    else:
        for line in result.changes.summary():
            view.note(f"applied version {result.version}: {line}")
    if values:
        await engine.set_inputs(spec.name, values, by="cli")
    wave = await engine.start(spec.name, task, force=force, by="cli")
    view.wave_started(wave)
    return [wave.id]

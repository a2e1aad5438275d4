"""The typer application and the one place where errors become messages and exit codes."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import Annotated, Any, ParamSpec, TypeVar

import typer

from layerspec.errors import EXIT_BAD_SPEC, EXIT_BUG, EXIT_INTERRUPTED, Diagnostic, LayerspecError, escape_text

app = typer.Typer(
    name="layerspec",
    help="Declarative model specs for Keras: check, build, train, evaluate, predict and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


_ENDS_PROCESS = [False]


def run_as_process() -> None:
    """Called by `layerspec.cli.main`, the command-line entry point: the process ends when the command returns."""
    _ENDS_PROCESS[0] = True


# What a command that ends the process leaves for `finish_process` to drop with the process (see there).
_KEPT: list[object] = []


def keep_until_exit(*objects: object) -> None:
    """Hold `objects` until the process ends, so that they are not freed one by one when the command returns."""
    _KEPT.extend(objects)


def finish_process(code: int) -> None:
    """End the process with `code` without freeing what `keep_until_exit` holds, when anything is held.

    A 60,000-layer check leaves millions of small objects; freeing them one by one, and again at interpreter
    shutdown, took about 0.1 s after the output was written. The output is flushed and the exit handlers run first;
    the command's own clean-up (the private temporary folder) has already run. Only the command-line entry point
    calls this, after the command and its clean-up are done; in process nothing is ever held (`ends_process`).
    """
    if not _KEPT:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return  # a closed or broken stream: the ordinary exit reports it as Python does
    import atexit

    atexit._run_exitfuncs()
    os._exit(code)


def ends_process() -> bool:
    """Whether the process ends when this command returns (so a command may skip clean-up that only a long-lived
    process needs); False when `app` is called in process, as the tests do."""
    return _ENDS_PROCESS[0]


def command(name: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """`@command()` registers a verb whose help names no Python type (layerspec.cli.usage)."""
    from layerspec.cli.usage import Command

    return app.command(name, cls=Command)


def _print_version(value: bool) -> None:
    if value:
        from layerspec import __version__

        typer.echo(f"layerspec {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", help="Print layerspec's version and exit.", is_eager=True, callback=_print_version),
    ] = False,
) -> None:
    """Declarative model specs for Keras: check, build, train, evaluate, predict and report."""


_TOO_DEEP = (
    "layerspec: error: the model or spec is nested too deeply to process (Python's recursion limit was reached): "
    "make it shallower"
)

P = ParamSpec("P")
R = TypeVar("R")


def print_error(line: str) -> None:
    """One line on stderr; names and paths in it cannot break the line or reach the terminal as control codes."""
    typer.echo(escape_text(line), err=True)


def print_warnings(warnings: Iterable[Diagnostic]) -> None:
    """`PATH:LINE:COL: warning: MESSAGE` lines on stderr; warnings never change the exit code."""
    for warning in warnings:
        print_error(warning.format())


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Run a command, turning layerspec's errors into `PATH:LINE:COL: error:` lines and exit codes."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LayerspecError as exc:
            # A stop the user asked for is no error: `PATH: interrupted: ...`, exit 130.
            stopped = exc.exit_code == EXIT_INTERRUPTED
            for diagnostic in exc.diagnostics:
                print_error(
                    (dataclasses.replace(diagnostic, severity="interrupted") if stopped else diagnostic).format()
                )
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            by = f" by {exc.args[0]}" if exc.args else ""
            print_error(f"layerspec: interrupted{by}; no half-written file is left behind")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except RecursionError:
            # `check` refuses what is known to recurse too deeply; anything else this deep is still the input's
            # doing (a model or spec nested beyond what Python can walk), not a crash to report as a bug.
            if os.environ.get("LAYERSPEC_DEBUG"):
                traceback.print_exc()
            print_error(_TOO_DEEP)
            raise typer.Exit(EXIT_BAD_SPEC) from None
        except BrokenPipeError:
            # Whatever read the output closed it (`layerspec check big.yaml | head`): it has what it wanted, so
            # the command ends quietly, as `head`'s other writers do; stdout goes nowhere from here, so that the
            # interpreter's last flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except OSError as exc:  # the machine refused something (a name too long, a full disk): not a bug
            print_error(os_error_line(exc))
            raise typer.Exit(EXIT_BAD_SPEC) from None
        except Exception as exc:  # a bug: say so plainly, keep the traceback for those who ask
            if os.environ.get("LAYERSPEC_DEBUG"):
                traceback.print_exc()
            print_error(f"layerspec: internal error: {type(exc).__name__}: {exc}")
            print_error("layerspec: this is a bug in layerspec; rerun with LAYERSPEC_DEBUG=1 for the traceback")
            raise typer.Exit(EXIT_BUG) from None

    return run


def os_error_line(exc: OSError) -> str:
    """`PATH: error: ...` for an OSError that no stage turned into one of layerspec's errors."""
    from layerspec.artifacts import os_error_advice

    where = exc.filename if exc.filename is not None else "layerspec"
    happened, advice = os_error_advice(exc)
    return f"{where}: error: {happened}: {advice}"


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")

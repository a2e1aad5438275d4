"""Usage lines and help as POSIX tools write them: `SPEC`, `[RUN]`, `IMAGE...`, `--epochs N`.

Typer's own help shows its internals (`{spec}`, `images... <list[Path]>`); this command class writes each argument
as its metavar (upper case), optional ones in brackets, and leaves the options' rows to Typer (their metavars are
set where they are declared).
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand


def argument_usage(param: Any) -> str:
    """`SPEC`, `[RUN]` or `IMAGE...` for one argument."""
    text = str(param.metavar or param.name or "").upper() if param.metavar is None else str(param.metavar)
    if not param.required and not text.startswith("["):
        text = f"[{text}]"
    if param.nargs != 1 and not text.endswith("..."):
        text += "..."
    return text


class Command(TyperCommand):
    """A verb whose usage line and Arguments section name no Python type."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [argument_usage(p) for p in self.get_params(ctx) if p.param_type_name == "argument"]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        arguments = [
            (argument_usage(p), getattr(p, "help", None) or "") for p in params if p.param_type_name == "argument"
        ]
        records = (p.get_help_record(ctx) for p in params if p.param_type_name == "option")
        options = [record for record in records if record is not None]
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)

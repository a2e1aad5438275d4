"""Command line: one thin module per verb, all registered on one typer app."""

from layerspec.cli import build, check, report, sweep, train  # noqa: F401  (each registers its commands)
from layerspec.cli.app import app


def main() -> None:
    from layerspec import interrupts

    interrupts.install()  # SIGTERM as SIGINT: exit 130, temporary files removed on the way out
    app()


__all__ = ["app", "main"]

"""Command line: one thin module per verb, all registered on one typer app."""

from layerspec import collection_paused_while_importing

with collection_paused_while_importing():  # the commands import the layer registry
    from layerspec.cli import build, check, diff, export, import_model, report, sweep, train  # noqa: F401  (each registers its commands)
    from layerspec.cli.app import app


def main() -> None:
    from layerspec import interrupts, tooldirs
    from layerspec.cli.app import finish_process, run_as_process

    run_as_process()
    interrupts.install()  # SIGTERM as SIGINT: exit 130, temporary files removed on the way out
    tooldirs.point_tools_at_cache()  # before Keras or Matplotlib is imported
    try:
        with tooldirs.private_tempdir():
            app()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            finish_process(exc.code or 0)
        raise


__all__ = ["app", "main"]

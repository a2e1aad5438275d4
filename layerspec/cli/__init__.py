"""Command line: one thin module per verb, all registered on one typer app."""

import gc

# The collector paused while the commands and the layer registry are imported, as in layerspec/__init__.py.
_collecting = gc.isenabled()
gc.disable()
try:
    from layerspec.cli import build, check, diff, export, import_model, report, sweep, train  # noqa: F401  (each registers its commands)
    from layerspec.cli.app import app
finally:
    if _collecting:
        gc.enable()


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

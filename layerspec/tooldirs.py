"""Where the tools layerspec drives keep their files: layerspec's cache folder, never the user's home.

Left to themselves, Keras writes ~/.keras/keras.json when it is first imported, Matplotlib builds a font cache in
~/.cache/matplotlib (or ~/.config/matplotlib), Graphviz's fontconfig one in ~/.cache/fontconfig, and TensorFlow,
Keras and others leave temporary files in TMPDIR (AutoGraph's generated modules, a half-saved model when a build
fails). A layerspec command writes its run folder, runs/.current and reports/ only: so each tool is pointed at a
folder of layerspec's cache (`$XDG_CACHE_HOME/layerspec`, else `runs/.cache`), a choice the user made (KERAS_HOME,
MPLCONFIGDIR) is kept, and a command's temporary files go to a private folder removed when it ends, however it ends
(an error, an interrupt, a signal: `layerspec.interrupts` turns SIGTERM into an exception that unwinds).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from layerspec.run.folder import RUNS_DIR

# Settings read by the tools themselves, each the folder it should use inside the cache.
TOOL_FOLDERS = {"KERAS_HOME": "keras", "MPLCONFIGDIR": "matplotlib"}


def cache_dir() -> Path:
    """layerspec's cache: `$XDG_CACHE_HOME/layerspec` when the user set XDG_CACHE_HOME, else `runs/.cache`.

    Not ~/.cache: a layerspec command writes nothing in the home folder unless asked to.
    """
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "layerspec" if xdg else Path(os.path.abspath(RUNS_DIR / ".cache"))


def point_tools_at_cache() -> None:
    """Set KERAS_HOME and MPLCONFIGDIR to folders of the cache, unless the user set them.

    Must run before Keras and Matplotlib are imported: both read their setting once, at import.
    """
    cache = cache_dir()
    for variable, name in TOOL_FOLDERS.items():
        os.environ.setdefault(variable, str(cache / name))


@contextmanager
def private_tempdir() -> Iterator[Path]:
    """A temporary folder for the command (TMPDIR and Python's tempfile point into it), removed at the end."""
    folder = Path(tempfile.mkdtemp(prefix="layerspec-"))
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        shutil.rmtree(folder, ignore_errors=True)

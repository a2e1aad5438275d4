"""The `data:` section of a spec (filled in by the training stage)."""

from __future__ import annotations

from typing import Any

DataSpec = dict[str, Any]

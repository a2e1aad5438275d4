"""The fuzz tests' helper modules (strategies, Keras oracle, mutators) live next to them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

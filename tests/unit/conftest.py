"""Shared helpers of the unit tests: ``tests/`` on the path for :mod:`samples`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

"""Makes benchmarks/ importable (``import ops_speed``, ``import cases_ssm``) for the tests of its scripts."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

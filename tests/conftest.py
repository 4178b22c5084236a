"""Hypothesis profiles: the default suite draws the same examples on every run, so CI's verdict depends on
the code alone; `HYPOTHESIS_PROFILE=explore pytest ...` draws fresh random examples (and more of them)
to hunt for new counterexamples."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=200, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

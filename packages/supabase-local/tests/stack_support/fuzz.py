"""Hypothesis settings for the stack's fuzz tests (``FUZZ_EXAMPLES`` sets their size) and JSON values to send."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(derandomize=True, deadline=None, max_examples=int(os.environ.get("FUZZ_EXAMPLES", "500")),
                suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10)

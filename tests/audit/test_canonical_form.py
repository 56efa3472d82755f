"""The chain's canonical JSON is exactly the documented form (sorted keys, no spaces, UTF-8),
so that anyone can re-compute an entry's hash with the standard library alone."""

import json

from hypothesis import given
from hypothesis import strategies as st

from registry.audit.chain import _canonical

_scalars = st.none() | st.booleans() | st.integers(min_value=-2**53, max_value=2**53) | st.text()
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


@given(st.dictionaries(st.text(max_size=12), _values, max_size=8))
def test_canonical_form_is_the_standard_librarys(content):
    expected = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert _canonical(content) == expected.encode()

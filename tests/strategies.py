"""Hypothesis strategies for hostile wire input, shared by the decoder's property tests
(``tests/unit/test_protocol_properties.py``) and the live fuzz campaign against a running lab
(``tests/integration/test_fuzz_endpoints.py``).

The seeds are ``EXAMPLES``: one valid message of every wire type
(``tests/unit/test_protocol_codec.py``).
"""

from __future__ import annotations

from typing import Any

import msgpack
from hypothesis import strategies as st

from protocol import encode
from tests.unit.test_protocol_codec import EXAMPLES

ENCODED = [encode(m) for m in EXAMPLES]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.binary(max_size=20)
    | st.sampled_from(["buy", "sell", "limit", "market", "ACME", "", "SubmitOrder"])
    | st.sampled_from([0, 1, -1, 2**31, 10**12, 10**12 + 1, 100_000_001])
)
msgpack_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
field_names = st.text(max_size=12) | st.sampled_from(
    ["type", "qty", "price", "limit_price", "side", "order_type", "seq", "allocations", "bids"]
)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    """A valid message with one random edit: a value replaced, a key deleted or a key added,
    at the top level or inside a nested map or list."""
    fields: dict[str, Any] = msgpack.unpackb(draw(st.sampled_from(ENCODED)))
    container: dict[str, Any] | list[Any] = fields
    # Walk down into nested containers now and then, so nested records get mutated too.
    while draw(st.booleans()):
        children = container.values() if isinstance(container, dict) else container
        nested = [c for c in children if isinstance(c, dict | list) and c]
        if not nested:
            break
        container = draw(st.sampled_from(nested))
    operation = draw(st.sampled_from(["replace", "delete", "add"]))
    if isinstance(container, dict):
        if operation == "add" or not container:
            container[draw(field_names)] = draw(msgpack_values)
        elif operation == "delete":
            del container[draw(st.sampled_from(sorted(container)))]
        else:
            container[draw(st.sampled_from(sorted(container)))] = draw(msgpack_values)
    else:
        index = draw(st.integers(0, len(container) - 1))
        if operation == "add":
            container.insert(index, draw(msgpack_values))
        elif operation == "delete":
            del container[index]
        else:
            container[index] = draw(msgpack_values)
    return msgpack.packb(fields)


@st.composite
def corrupted_payloads(draw: st.DrawFn) -> bytes:
    """A valid encoding truncated or with a few bytes overwritten."""
    payload = bytearray(draw(st.sampled_from(ENCODED)))
    if draw(st.booleans()):
        return bytes(payload[: draw(st.integers(0, len(payload)))])
    for _ in range(draw(st.integers(1, 4))):
        payload[draw(st.integers(0, len(payload) - 1))] = draw(st.integers(0, 255))
    return bytes(payload)

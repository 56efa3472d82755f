"""registry.ids.new_uuid: the same kind of identifier as str(uuid.uuid4()), only cheaper."""

import uuid

from registry.ids import new_uuid


def test_new_uuid_is_a_canonical_version_4_uuid():
    for _ in range(2000):
        text = new_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # canonical: lower-case hex, dashes in their places


def test_new_uuid_is_random():
    ids = {new_uuid() for _ in range(10_000)}
    assert len(ids) == 10_000
    # Every one of the 122 random bits takes both values somewhere in the sample.
    ints = [uuid.UUID(i).int for i in list(ids)[:500]]
    fixed = (0xF << 76) | (0x3 << 62)  # the version and variant bits
    varying = 0
    for a in ints:
        varying |= a ^ ints[0]
    assert varying | fixed == (1 << 128) - 1

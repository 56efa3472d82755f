"""Random identifiers for rows written on the hot paths (decisions, audit entries)."""

from __future__ import annotations

import os


def new_uuid() -> str:
    """A random (version 4) UUID in its canonical text form, as ``str(uuid.uuid4())`` gives it.

    Built from the random bytes directly: a usage report writes a thousand audit entries, and
    ``uuid.UUID``'s constructor and ``__str__`` cost four times as much as the bytes themselves.
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

"""Identifiers: ULIDs for runs and messages, and the shapes client-chosen ids may take."""

from __future__ import annotations

import os
import re
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Inferable's rule for user-defined ids (alphanumeric, underscore, hyphen, 6+ characters), capped
# at 64 so that "<runId>-<n>" stays within Step Functions' 80-character execution names.
RUN_ID_PATTERN = r"^[A-Za-z0-9_-]{6,64}$"
CLUSTER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
_RUN_ID_RE = re.compile(RUN_ID_PATTERN)


def ulid() -> str:
    """A 26-character, lexicographically time-ordered id (ULID)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_run_id(value: str) -> bool:
    return bool(_RUN_ID_RE.match(value))

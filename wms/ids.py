"""Identifiers shared by the bounded contexts."""

import os
import threading
import time
import uuid

_uuid7_lock = threading.Lock()
_uuid7_state = [0, 0]  # last (milliseconds, 74-bit counter)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), increasing within this process.

    Orders arrive at a high rate; random UUID keys would scatter inserts over
    the whole primary-key index, time-ordered ones append to its right edge.
    They also make ``-id`` a stable, chronological cursor order. Within one
    millisecond the 74 random bits count up from a random start (RFC 9562,
    method 2), so ids made by one process sort in the order they were made.
    """
    ms = time.time_ns() // 1_000_000
    with _uuid7_lock:
        last_ms, last_counter = _uuid7_state
        if ms > last_ms:
            counter = int.from_bytes(os.urandom(10), "big") >> 7  # 73 bits: room to count
        else:
            ms, counter = last_ms, last_counter + 1
            if counter >> 74:
                ms, counter = ms + 1, 0
        _uuid7_state[:] = [ms, counter]
    return uuid.UUID(
        int=(ms & ((1 << 48) - 1)) << 80
        | 0x7 << 76
        | (counter >> 62) << 64
        | 0b10 << 62
        | (counter & ((1 << 62) - 1))
    )

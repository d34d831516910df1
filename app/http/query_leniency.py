"""The reference's leniency with query strings: a parameter with an empty value is absent.

``?since=``, ``?correlation_id=`` or ``?limit=`` mean "not given" to the reference, so they get
the default here too rather than a 400 or, worse, a filter on the empty string.
"""

from __future__ import annotations


def without_empty_values(query_string: bytes) -> bytes:
    """``a=&b=1&c`` as ``b=1``: the raw bytes of every other parameter kept as they came."""
    return b"&".join(part for part in query_string.split(b"&") if part.partition(b"=")[2])

"""Wire types more than one capability uses, defined once."""

from __future__ import annotations

from typing import Annotated

import msgspec

# A required name: present, not empty, at most 255 characters.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
# An optional short string: at most 255 characters.
Short = Annotated[str, msgspec.Meta(max_length=255)]


class Pagination(msgspec.Struct):
    limit: int
    offset: int
    total: int
    has_more: bool

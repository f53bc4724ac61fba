"""What a rate limit or the PIN backoff answers: go ahead, or wait this long."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hashwall.errors import RateLimited


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether a request may go ahead; if not, after how many seconds it may."""

    allowed: bool
    retry_after: float = 0.0
    remaining: int = 0

    def raise_if_denied(self, what: str) -> None:
        """Raise :class:`RateLimited` (429, ``Retry-After``) when the request is denied."""
        if not self.allowed:
            wait = max(1, math.ceil(self.retry_after))
            raise RateLimited(f"too many {what}; retry in {wait} s", retry_after=wait)

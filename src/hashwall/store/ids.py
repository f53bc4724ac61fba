"""Random public identifiers. Row ids never leave the store; these do.

- Case numbers are typed by people: ``HW-7K2D-Q9XM-4TRB``, 12 symbols of Crockford's base 32
  (no I, L, O, U: nothing to confuse), 60 random bits. :func:`normalise_case_number` accepts
  lower case, missing hyphens or prefix, spaces, and O/I/L typed for 0/1/1.
- Everything else is url-safe random text behind a short type prefix, so an id says what it is:
  item refs ``itm_…``, match refs ``mch_…``, check ids ``chk_…`` (128 bits each), API key ids
  ``key_…`` (96 bits).
"""

from __future__ import annotations

import re
import secrets

CASE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_PREFIX = "HW"
_CASE_GROUPS = 3
_CASE_GROUP_LEN = 4
_CASE_SYMBOLS = _CASE_GROUPS * _CASE_GROUP_LEN
_CASE_TYPOS = str.maketrans({"O": "0", "I": "1", "L": "1"})
CASE_NUMBER_PATTERN = re.compile(
    rf"{CASE_PREFIX}(-[{CASE_ALPHABET}]{{{_CASE_GROUP_LEN}}}){{{_CASE_GROUPS}}}"
)


def new_case_number() -> str:
    """A fresh random case number, ``HW-XXXX-XXXX-XXXX``."""
    symbols = "".join(secrets.choice(CASE_ALPHABET) for _ in range(_CASE_SYMBOLS))
    groups = [symbols[i : i + _CASE_GROUP_LEN] for i in range(0, _CASE_SYMBOLS, _CASE_GROUP_LEN)]
    return "-".join([CASE_PREFIX, *groups])


def normalise_case_number(text: str) -> str | None:
    """The canonical form of a case number as a person typed it, or None if it cannot be one."""
    compact = re.sub(r"[\s\-_.]", "", text).upper()
    if compact.startswith(CASE_PREFIX) and len(compact) == len(CASE_PREFIX) + _CASE_SYMBOLS:
        compact = compact[len(CASE_PREFIX) :]
    compact = compact.translate(_CASE_TYPOS)
    if len(compact) != _CASE_SYMBOLS or any(c not in CASE_ALPHABET for c in compact):
        return None
    groups = [compact[i : i + _CASE_GROUP_LEN] for i in range(0, _CASE_SYMBOLS, _CASE_GROUP_LEN)]
    return "-".join([CASE_PREFIX, *groups])


def new_item_ref() -> str:
    """A fresh item ref, ``itm_`` + 22 url-safe characters."""
    return "itm_" + secrets.token_urlsafe(16)


def new_match_ref() -> str:
    """A fresh match ref, ``mch_`` + 22 url-safe characters."""
    return "mch_" + secrets.token_urlsafe(16)


def new_check_id() -> str:
    """A fresh id for one check call (groups the match rows it wrote)."""
    return "chk_" + secrets.token_urlsafe(16)


def new_key_id() -> str:
    """A fresh public API key id, ``key_`` + 16 url-safe characters."""
    return "key_" + secrets.token_urlsafe(12)

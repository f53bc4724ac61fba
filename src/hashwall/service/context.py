"""What every use case is given: the store, the settings and the live indexes.

Who is acting is the use case's other argument, a :class:`hashwall.domain.Actor`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from hashwall.service.hitlog import HiddenHitLog
from hashwall.service.indexes import LiveIndexes
from hashwall.settings import Settings
from hashwall.store import credentials
from hashwall.store.repo import Store


@dataclass(frozen=True, slots=True)
class PinHashing:
    """How PINs are hashed and verified: argon2id by default (``hashwall.store.credentials``).

    ``verify(None, pin)`` (unknown case) must cost the same as a wrong PIN and return False.
    Tests inject cheaper argon2 parameters here; production never changes it.
    """

    hash: Callable[[str], str] = credentials.hash_pin
    verify: Callable[[str | None, str], bool] = credentials.verify_pin


@dataclass(slots=True)
class ServiceContext:
    """The store, the settings and (in a serving process) the live index of each signal family.

    ``live`` is None outside a serving process (the CLI on the store, tools): the check then
    scans the store's live signals instead of an in-memory index (correct, but O(bank)).
    ``hit_log``: where a serving process writes hits a platform's policy answers ``allow``,
    after the answer (``service/hitlog.py``); without one the check writes them itself.
    """

    store: Store
    settings: Settings
    live: LiveIndexes | None = None
    pins: PinHashing = field(default_factory=PinHashing)
    hit_log: HiddenHitLog | None = None

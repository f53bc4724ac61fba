"""Who may act on a case: the holder of its case number and PIN, or the partner that filed it.

- A reporter (or anyone) presents the case number and PIN. An unknown case number and a wrong PIN
  give the same error (:class:`~hashwall.errors.InvalidCredentials`) after the same argon2 work
  (``verify(None, pin)`` runs a dummy verification).
- An intake partner acts without the PIN on the cases it filed; on any other case (or a case
  number that does not exist) it gets the same :class:`~hashwall.errors.Forbidden`, unless it
  presents the PIN (a person sitting with a helpline).
- Platform, admin and operator actors have no business with a reporter's case.

The PIN is read as a person typed it (:func:`~hashwall.store.credentials.pin_key`: any case,
spaces and dashes, old 8-digit PINs too). Text that cannot be a PIN is refused before any argon2
work, whatever the case number: that says nothing about the case. The PIN is verified outside any
write transaction (argon2 is slow on purpose); callers re-read the case in their own transaction
afterwards.

Whoever counts PIN attempts (the API's backoff) must know whether a call verified a PIN and
whether it was right, whatever else the call then did or failed at: :func:`recording_pin_check`
tells them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from hashwall.domain import Actor, Case
from hashwall.errors import Forbidden, InvalidCredentials
from hashwall.service.context import ServiceContext
from hashwall.store.credentials import pin_key

_WRONG = "the case number or the PIN is not right; check both and try again"
_NOT_A_PIN = (
    "this is not a PIN: a PIN is 12 letters and digits in three groups, like K7QM-4XRT-9HWP "
    "(cases opened before those PINs have 8 digits); check it and try again"
)


@dataclass(slots=True)
class PinCheck:
    """What became of the PIN given to one call: whether it was verified, and if it was right."""

    verified: bool = False
    right: bool = False


_CURRENT_CHECK: ContextVar[PinCheck | None] = ContextVar("hashwall_pin_check", default=None)


@contextmanager
def recording_pin_check(check: PinCheck) -> Iterator[PinCheck]:
    """Within the block (in this thread or context), PIN verifications are written to ``check``."""
    token = _CURRENT_CHECK.set(check)
    try:
        yield check
    finally:
        _CURRENT_CHECK.reset(token)


def authorise_case(ctx: ServiceContext, actor: Actor, case_number: str, pin: str | None) -> Case:
    """The case the actor may act on, or raise ``InvalidCredentials``/``Forbidden``."""
    actor.require("reporter", "intake")
    with ctx.store.read() as repo:
        case = repo.get_case(case_number)
    if actor.kind == "intake" and actor.partner_id is not None:
        if case is not None and case.partner_id == actor.partner_id:
            return case
        if pin is None:
            raise Forbidden("this is not a case your organisation filed")
    if pin is None:
        raise InvalidCredentials(_WRONG)
    key = pin_key(pin)
    if key is None:
        raise InvalidCredentials(_NOT_A_PIN)
    right = ctx.pins.verify(case.pin_hash if case is not None else None, key) and case is not None
    check = _CURRENT_CHECK.get()
    if check is not None:
        check.verified, check.right = True, right
    if not right or case is None:
        raise InvalidCredentials(_WRONG)
    return case


def filed_by(ctx: ServiceContext, actor: Actor, case_number: str) -> Case:
    """The case, if the acting intake partner filed it; ``Forbidden`` otherwise (no oracle)."""
    actor.require("intake")
    with ctx.store.read() as repo:
        case = repo.get_case(case_number)
    if case is None or actor.partner_id is None or case.partner_id != actor.partner_id:
        raise Forbidden("this is not a case your organisation filed")
    return case

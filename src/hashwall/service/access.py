"""Who may act on a case: the holder of its case number and PIN, or the partner that filed it.

- A reporter (or anyone) presents the case number and PIN. An unknown case number and a wrong PIN
  give the same error (:class:`~hashwall.errors.InvalidCredentials`) after the same argon2 work
  (``verify(None, pin)`` runs a dummy verification).
- An intake partner acts without the PIN on the cases it filed; on any other case (or a case
  number that does not exist) it gets the same :class:`~hashwall.errors.Forbidden`, unless it
  presents the PIN (a person sitting with a helpline).
- Platform, admin and operator actors have no business with a reporter's case.

The PIN is verified outside any write transaction (argon2 is slow on purpose); callers re-read
the case in their own transaction afterwards.
"""

from __future__ import annotations

from hashwall.errors import Forbidden, InvalidCredentials
from hashwall.service.context import Actor, ServiceContext
from hashwall.store.repo import Case

_WRONG = "the case number or the PIN is not right; check both and try again"


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
    if not ctx.pins.verify(case.pin_hash if case is not None else None, pin) or case is None:
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

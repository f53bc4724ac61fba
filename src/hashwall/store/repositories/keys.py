"""API keys: stored with the hash of their secret, revoked for good."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import fields
from typing import Any

from sqlalchemy import Row, insert, select, update

from hashwall.domain import PLATFORM_SCOPES, ROLES, ApiKey, Role, Scope, require_choice
from hashwall.errors import InvalidInput, NotFound
from hashwall.store.ids import new_key_id
from hashwall.store.repositories.base import RepositoryBase
from hashwall.store.tables import api_keys


class KeyRepository(RepositoryBase):
    """Reads and writes of API keys."""

    def add_api_key(
        self,
        *,
        role: Role,
        secret_hash: str,
        scopes: Collection[Scope] = (),
        platform_id: int | None = None,
        partner_id: int | None = None,
        label: str | None = None,
    ) -> ApiKey:
        """Store a key (its ``key_id`` is drawn here) and return it.

        ``secret_hash`` comes from :func:`hashwall.store.credentials.hash_api_secret`. Owners:
        ``admin`` none, ``intake`` a partner, ``platform`` a platform. Only platform keys carry
        scopes (a non-empty subset of ``check``, ``feed``, ``verdict``).
        """
        require_choice("role", role, ROLES)
        owned_right = {
            "admin": platform_id is None and partner_id is None,
            "intake": partner_id is not None and platform_id is None,
            "platform": platform_id is not None and partner_id is None,
        }[role]
        if not owned_right:
            raise InvalidInput(
                "an admin key has no owner, an intake key belongs to a partner, "
                "a platform key to a platform"
            )
        scope_list = sorted(set(scopes))
        if role == "platform":
            if not scope_list:
                raise InvalidInput("a platform key needs at least one scope")
            for scope in scope_list:
                require_choice("scope", scope, PLATFORM_SCOPES)
        elif scope_list:
            raise InvalidInput("only platform keys have scopes")
        row = self.conn.execute(
            insert(api_keys)
            .values(
                key_id=new_key_id(),
                secret_hash=secret_hash,
                role=role,
                scopes=scope_list,
                platform_id=platform_id,
                partner_id=partner_id,
                label=label,
                created_at=self.clock(),
            )
            .returning(*api_keys.c)
        ).one()
        return api_key_from_row(row)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        """The key with public id ``key_id`` (revoked or not: check :attr:`ApiKey.revoked`)."""
        row = self.conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).one_or_none()
        return api_key_from_row(row) if row is not None else None

    def list_api_keys(self, *, include_revoked: bool = True) -> list[ApiKey]:
        """All keys, oldest first."""
        stmt = select(api_keys).order_by(api_keys.c.id)
        if not include_revoked:
            stmt = stmt.where(api_keys.c.revoked_at.is_(None))
        return [api_key_from_row(row) for row in self.conn.execute(stmt)]

    def revoke_api_key(self, key_id: str) -> ApiKey:
        """Revoke a key (idempotent: the first revocation time is kept); :class:`NotFound`."""
        self.conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=self.clock())
        )
        key = self.get_api_key(key_id)
        if key is None:
            raise NotFound(f"no API key {key_id}")
        return key


def api_key_from_row(row: Row[Any]) -> ApiKey:
    """An :class:`ApiKey` from an ``api_keys`` row."""
    mapping = dict(row._mapping)
    mapping["scopes"] = tuple(mapping["scopes"])
    return ApiKey(**{f.name: mapping[f.name] for f in fields(ApiKey)})

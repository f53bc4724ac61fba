"""Organisations, their platforms (with each one's policy) and intake partners."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import Row, insert, select, update

from hashwall.domain import Organisation, Partner, Platform, PlatformPolicy
from hashwall.errors import NotFound
from hashwall.store.repositories.base import RepositoryBase
from hashwall.store.tables import organisations, partners, platforms

_POLICY_FIELDS = tuple(f.name for f in fields(PlatformPolicy))


class TenancyRepository(RepositoryBase):
    """Reads and writes of organisations, platforms and partners."""

    def add_organisation(self, name: str) -> Organisation:
        """Create an organisation; :class:`AlreadyExists` if the name is taken."""
        self._require_free(organisations, name, "organisation")
        return self._insert(organisations, Organisation, name=name, created_at=self.clock())

    def get_organisation(self, name: str) -> Organisation | None:
        """The organisation named ``name``."""
        return self._one(Organisation, select(organisations).where(organisations.c.name == name))

    def get_organisation_by_id(self, organisation_id: int) -> Organisation | None:
        """The organisation with row id ``organisation_id``."""
        return self._one(
            Organisation, select(organisations).where(organisations.c.id == organisation_id)
        )

    def list_organisations(self) -> list[Organisation]:
        """All organisations, by name."""
        return self._all(Organisation, select(organisations).order_by(organisations.c.name))

    def add_platform(
        self, organisation_id: int, name: str, policy: PlatformPolicy | None = None
    ) -> Platform:
        """Create a platform of an organisation with ``policy`` (defaults if None)."""
        self._require_free(platforms, name, "platform")
        if self.get_organisation_by_id(organisation_id) is None:
            raise NotFound(f"no organisation with id {organisation_id}")
        row = self.conn.execute(
            insert(platforms)
            .values(
                organisation_id=organisation_id,
                name=name,
                created_at=self.clock(),
                **(policy or PlatformPolicy()).to_dict(),
            )
            .returning(*platforms.c)
        ).one()
        return platform_from_row(row)

    def get_platform(self, name: str) -> Platform | None:
        """The platform named ``name``."""
        row = self.conn.execute(select(platforms).where(platforms.c.name == name)).one_or_none()
        return platform_from_row(row) if row is not None else None

    def get_platform_by_id(self, platform_id: int) -> Platform | None:
        """The platform with row id ``platform_id``."""
        row = self.conn.execute(
            select(platforms).where(platforms.c.id == platform_id)
        ).one_or_none()
        return platform_from_row(row) if row is not None else None

    def list_platforms(self, organisation_id: int | None = None) -> list[Platform]:
        """All platforms (of one organisation if given), by name."""
        stmt = select(platforms).order_by(platforms.c.name)
        if organisation_id is not None:
            stmt = stmt.where(platforms.c.organisation_id == organisation_id)
        return [platform_from_row(row) for row in self.conn.execute(stmt)]

    def set_platform_policy(self, platform_id: int, policy: PlatformPolicy) -> Platform:
        """Replace a platform's whole policy; :class:`NotFound` if there is no such platform."""
        row = self.conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(**policy.to_dict())
            .returning(*platforms.c)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no platform with id {platform_id}")
        return platform_from_row(row)

    def add_partner(self, name: str) -> Partner:
        """Create an intake partner; :class:`AlreadyExists` if the name is taken."""
        self._require_free(partners, name, "partner")
        return self._insert(partners, Partner, name=name, created_at=self.clock())

    def get_partner(self, name: str) -> Partner | None:
        """The partner named ``name``."""
        return self._one(Partner, select(partners).where(partners.c.name == name))

    def get_partner_by_id(self, partner_id: int) -> Partner | None:
        """The partner with row id ``partner_id``."""
        return self._one(Partner, select(partners).where(partners.c.id == partner_id))

    def list_partners(self) -> list[Partner]:
        """All partners, by name."""
        return self._all(Partner, select(partners).order_by(partners.c.name))


def platform_from_row(row: Row[Any]) -> Platform:
    """A :class:`Platform` from a ``platforms`` row (its policy columns become the policy)."""
    mapping = row._mapping
    return Platform(
        id=mapping["id"],
        organisation_id=mapping["organisation_id"],
        name=mapping["name"],
        policy=PlatformPolicy(**{name: mapping[name] for name in _POLICY_FIELDS}),
        created_at=mapping["created_at"],
    )

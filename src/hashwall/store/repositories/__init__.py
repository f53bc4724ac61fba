"""Repositories per aggregate; :class:`hashwall.store.repo.Repository` is all of them over one
transaction (the unit of work)."""

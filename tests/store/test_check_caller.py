"""The check's first read: is the key still usable, and the platform's row, in one statement."""

from __future__ import annotations

from hashwall.store.repo import Repository


def test_a_usable_key_comes_with_its_platform(repo: Repository) -> None:
    org = repo.add_organisation("Org")
    platform = repo.add_platform(org.id, "photos")
    key = repo.add_api_key(
        role="platform", secret_hash="sha256$x", platform_id=platform.id, scopes=["check"]
    )
    assert repo.read_check_caller(key.key_id, platform.id) == (True, platform)


def test_a_revoked_or_unknown_key_is_not_usable(repo: Repository) -> None:
    org = repo.add_organisation("Org")
    platform = repo.add_platform(org.id, "photos")
    key = repo.add_api_key(
        role="platform", secret_hash="sha256$x", platform_id=platform.id, scopes=["check"]
    )
    repo.revoke_api_key(key.key_id)
    assert repo.read_check_caller(key.key_id, platform.id) == (False, platform)
    assert repo.read_check_caller("no-such-key", platform.id) == (False, platform)


def test_without_a_key_only_the_platform_is_read(repo: Repository) -> None:
    org = repo.add_organisation("Org")
    platform = repo.add_platform(org.id, "photos")
    assert repo.read_check_caller(None, platform.id) == (True, platform)
    assert repo.read_check_caller(None, platform.id + 1000) == (True, None)


def test_a_missing_platform_still_answers_for_the_key(repo: Repository) -> None:
    org = repo.add_organisation("Org")
    platform = repo.add_platform(org.id, "photos")
    key = repo.add_api_key(
        role="platform", secret_hash="sha256$x", platform_id=platform.id, scopes=["check"]
    )
    gone = platform.id + 1000
    assert repo.read_check_caller(key.key_id, gone) == (True, None)
    assert repo.read_check_caller("no-such-key", gone) == (False, None)
    repo.revoke_api_key(key.key_id)
    assert repo.read_check_caller(key.key_id, gone) == (False, None)

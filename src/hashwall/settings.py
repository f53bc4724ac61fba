"""hashwall's settings: one class, read from ``HASHWALL_*`` environment variables, passed in."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MB = 1024 * 1024
GB = 1024 * MB


class Settings(BaseSettings):
    """Every tunable of hashwall, with safe defaults. Build once and pass it down; never global."""

    model_config = SettingsConfigDict(env_prefix="HASHWALL_", frozen=True, extra="ignore")

    # Media limits: checked before (bytes, pixels from the header) and during decoding.
    max_input_bytes: int = Field(default=50 * MB, gt=0, description="Largest accepted input.")
    max_pixels: int = Field(
        default=100_000_000, gt=0, description="Largest width*height, read from the header."
    )
    max_frames: int = Field(default=1000, gt=0, description="Most frames in an animation.")
    min_side: int = Field(default=16, gt=0, description="Shortest accepted image side in pixels.")

    # Video limits: checked from the container's header where it declares them, and again while
    # decoding (a header may lie). The bytes are streamed to the decoder, never held at once.
    video_max_bytes: int = Field(
        default=2 * GB, gt=0, description="Largest accepted video file, in bytes."
    )
    video_max_seconds: float = Field(
        default=7200.0, gt=0, description="Longest accepted video, in seconds (2 hours)."
    )
    video_max_pixels: int = Field(
        default=7680 * 4320,
        gt=0,
        description="Largest width*height of a video frame (default 8K UHD).",
    )
    video_max_frames: int = Field(
        default=432_000,
        gt=0,
        description="Most decoded frames in a video or an animation hashed as a video "
        "(2 hours at 60 frames per second).",
    )
    vpdq_seconds_per_hash: float = Field(
        default=1.0,
        ge=0,
        description="Seconds of video between two hashed frames (vPDQ's secondsPerHash); "
        "0 hashes every frame.",
    )
    vpdq_max_frames: int = Field(
        default=10_800,
        gt=0,
        description="Most frame hashes of one video item or checked video (each of its lists): "
        "a 2 hour video at one frame per second has 7,200. A video banked from its bytes is "
        "hashed every frame up to this many (6 minutes at 30 fps), evenly spaced past that.",
    )

    # Matching.
    pdq_threshold: int = Field(default=31, ge=0, le=63, description="Default PDQ match radius.")
    pdq_min_quality: int = Field(
        default=50, ge=0, le=100, description="PDQ quality below which a hash is not used."
    )

    # Store.
    database_url: str = Field(
        default="sqlite:///./var/hashwall.db",
        description="SQLAlchemy URL of the store: SQLite (default) or postgresql://...",
    )

    # Retention.
    match_retention_days: int = Field(
        default=90,
        ge=0,
        description="Days a match record is kept, for platforms created without their own value.",
    )

    # Trust and abuse (verdicts).
    quarantine_min_orgs: int = Field(
        default=2,
        ge=2,
        description="Different organisations whose not_ncii verdicts (on distinct uploads) "
        "quarantine an item. One organisation alone never can.",
    )
    confirm_min_orgs: int = Field(
        default=2,
        ge=2,
        description="Different organisations whose confirmed verdicts (on distinct uploads) make "
        "an unvouched item block on every platform. One organisation's confirmation makes it "
        "block on that organisation's own platforms only.",
    )
    distinct_upload_bits: int = Field(
        default=8,
        ge=0,
        le=63,
        description="Uploads whose PDQ hashes are at most this many bits apart are one upload "
        "(for exemptions and for counting not_ncii verdicts).",
    )

    # Live index.
    index_poll_interval: float = Field(
        default=0.2,
        gt=0,
        le=0.2,
        description="Seconds between polls of the event log by a serving process's live index.",
    )
    index_max_lag: float = Field(
        default=1.0,
        gt=0,
        description="A live index is ready only if it caught up with the log this recently (s).",
    )
    index_follower_timeout: float = Field(
        default=10.0,
        gt=0,
        description="A live index follower that makes no progress this long (s) is replaced "
        "by a new one (a hung connection).",
    )
    index_stale_scan_max: int = Field(
        default=10_000,
        ge=0,
        description="While the live index is not current, banks of at most this many PDQ "
        "hashes are checked by scanning the store; larger ones answer 503 store_unavailable.",
    )

    # HTTP API: request bodies.
    max_json_bytes: int = Field(
        default=1 * MB, gt=0, description="Largest JSON (or form fields) request body, in bytes."
    )

    # HTTP API: the decoder pool (worker processes that turn media bytes into hashes).
    decode_workers: int = Field(default=2, gt=0, description="Decoder worker processes.")
    decode_memory_limit: int = Field(
        default=2 * GB,
        ge=512 * MB,
        description="Address space (RLIMIT_AS) of one decoder worker, in bytes. A worker needs "
        "~400 MB for itself; a 100 MP image needs ~1.2 GB more in reference mode.",
    )
    decode_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a decoder worker may spend on one input."
    )
    video_decode_timeout: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a decoder worker may spend on one video (decoding and hashing).",
    )
    video_max_json_bytes: int = Field(
        default=4 * MB,
        gt=0,
        description="Largest JSON body of a check or of new case items, which may carry a "
        "video's frame hashes (~110 bytes a frame).",
    )
    decode_queue_timeout: float = Field(
        default=5.0,
        gt=0,
        description="Seconds a request may wait for a free decoder worker before 'overloaded'.",
    )

    # HTTP API: rate limits (in Redis when redis_url is set, so that replicas share them).
    redis_url: str | None = Field(
        default=None, description="redis://... for rate limits and PIN backoff shared by replicas."
    )
    redis_prefix: str = Field(default="hashwall:", description="Prefix of hashwall's Redis keys.")
    limits_secret: SecretStr | None = Field(
        default=None,
        description="Key of the hash that turns client addresses and case numbers into limiter "
        "keys (set it so that Redis holds no linkable address; random per process if unset "
        "and Redis is not used).",
    )
    rate_limit_key_per_second: float = Field(
        default=200.0, gt=0, description="Sustained requests per second for one API key."
    )
    rate_limit_key_burst: int = Field(
        default=400, gt=0, description="Requests one API key may send at once."
    )
    rate_limit_client_per_second: float = Field(
        default=5.0, gt=0, description="Sustained requests per second for one client address."
    )
    rate_limit_client_burst: int = Field(
        default=30, gt=0, description="Requests one client address may send at once."
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed (comma-separated).",
    )

    # HTTP API: PIN checks (exponential backoff, never a hard lock) and argon2 concurrency.
    pin_free_attempts: int = Field(
        default=5, ge=1, description="PIN attempts per (case, client) before backoff starts."
    )
    pin_client_free_attempts: int = Field(
        default=20, ge=1, description="PIN attempts per client address before backoff starts."
    )
    pin_backoff_base: float = Field(
        default=1.0, gt=0, description="First backoff delay in seconds; doubles per attempt."
    )
    pin_backoff_max: float = Field(default=600.0, gt=0, description="Longest backoff delay (s).")
    pin_backoff_window: float = Field(
        default=86_400.0,
        gt=0,
        description="Seconds without attempts after which a PIN counter (of a case and address, "
        "an address, or a case) starts over.",
    )
    pin_case_free_attempts: int = Field(
        default=10,
        ge=1,
        description="PIN attempts per case, from all addresses together, before backoff starts.",
    )
    pin_case_backoff_max: float = Field(
        default=300.0,
        gt=0,
        description="Longest backoff delay (s) of a case's own counter: with 12-symbol PINs and "
        "this at 300 s, guessing one case's PIN takes over 10^12 years (docs/security.md).",
    )
    pin_check_concurrency: int = Field(
        default=1,
        gt=0,
        description="argon2 work (PIN checks, and the hashing of a new case's PIN) running at "
        "once in one process. Each takes one core for ~0.2-0.4 s: keep it below the cores, so "
        "that an intake or wrong-PIN flood cannot slow the checks.",
    )
    anonymous_cases_per_second: float = Field(
        default=1.0,
        gt=0,
        description="Cases the anonymous channel may open per second in one process, from all "
        "addresses together (beyond each address's own rate limit; partners are not counted).",
    )
    anonymous_cases_burst: int = Field(
        default=30,
        ge=1,
        description="Anonymous cases that may be opened at once before "
        "anonymous_cases_per_second applies.",
    )
    pin_check_max_waiting: int = Field(
        default=64,
        ge=0,
        description="PIN checks that may wait for a slot; past that, a check of the address "
        "that asked most lately is refused 'overloaded' (and not counted).",
    )
    metrics_public: bool = Field(
        default=False,
        description="Serve GET /metrics without a key. Off: it needs an admin key (its labels "
        "name every platform). On only where the port is reachable from a private network "
        "alone (the public proxy refusing /metrics); it then keeps answering while the "
        "database is down, when an admin key cannot be verified.",
    )
    demo_keys_file: str | None = Field(
        default=None,
        description="The keys file of `hashwall demo setup` (`make run` sets it): the server then "
        "serves /demo, which checks photos as the file's first demo platform, with the key "
        "held here. Unset (every real deployment): /demo is 404.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            for cidr in value:
                try:
                    ipaddress.ip_network(str(cidr), strict=False)
                except ValueError:
                    raise ValueError(f"not an IP network: {cidr!r}") from None
            return tuple(str(cidr) for cidr in value)
        return value

"""hashwall's settings: one class, read from ``HASHWALL_*`` environment variables, passed in."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MB = 1024 * 1024


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

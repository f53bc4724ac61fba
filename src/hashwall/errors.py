"""One tree of errors, each with a stable snake_case ``code`` (public API) and an HTTP ``status``.

Callers catch :class:`HashwallError`; nothing else escapes hashwall's public functions for bad
input. The message says what was wrong and what to do; it never carries media bytes, PINs or
key secrets.
"""

from __future__ import annotations

from typing import ClassVar


class HashwallError(Exception):
    """Base of every error hashwall raises on purpose."""

    code: ClassVar[str] = "hashwall_error"
    status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, str]:
        """The error as ``{"code", "message"}``, the form the CLI and the API print."""
        return {"code": self.code, "message": self.message}


# --- bad input (4xx) -------------------------------------------------------------------------


class InvalidInput(HashwallError):
    """The caller sent something hashwall cannot use."""

    code = "invalid_input"
    status = 400


class EmptyMedia(InvalidInput):
    """Zero bytes were given where an image was expected."""

    code = "empty_media"
    status = 400


class UnsupportedMedia(InvalidInput):
    """The bytes are not an image format hashwall decodes (SVG, PDF, HTML, archives, ...)."""

    code = "unsupported_media"
    status = 415


class CorruptMedia(InvalidInput):
    """The bytes claim a supported format but cannot be decoded (truncated, damaged)."""

    code = "corrupt_media"
    status = 422


class MediaTooLarge(InvalidInput):
    """The input has more bytes than ``Settings.max_input_bytes``."""

    code = "media_too_large"
    status = 413


class TooManyPixels(InvalidInput):
    """The header declares more pixels than ``Settings.max_pixels`` (decompression bomb guard)."""

    code = "too_many_pixels"
    status = 413


class TooManyFrames(InvalidInput):
    """An animation has more frames than ``Settings.max_frames``."""

    code = "too_many_frames"
    status = 413


class MediaTooLong(InvalidInput):
    """A video lasts longer than ``Settings.video_max_seconds``."""

    code = "media_too_long"
    status = 413


class ImageTooSmall(InvalidInput):
    """A side of the image is shorter than ``Settings.min_side``: too little to fingerprint."""

    code = "image_too_small"
    status = 422


class InvalidHash(InvalidInput):
    """A hash from outside is malformed, or is a value no real image can produce."""

    code = "invalid_hash"
    status = 400


class LowQuality(InvalidInput):
    """The image is too featureless (PDQ quality below the minimum) to match on."""

    code = "low_quality"
    status = 422


class FileUnreadable(InvalidInput):
    """A local path could not be read (missing, a directory, no permission)."""

    code = "file_unreadable"
    status = 400


# --- access (4xx) ---------------------------------------------------------------------------


class UploadMismatch(InvalidInput):
    """A verdict names an upload other than the one its match was made on."""

    code = "upload_mismatch"
    status = 422


class Forbidden(HashwallError):
    """The actor may not do this (wrong role, missing scope, or another tenant's data)."""

    code = "forbidden"
    status = 403


# --- state (4xx) ----------------------------------------------------------------------------


class NotFound(HashwallError):
    """The row a change was asked for does not exist."""

    code = "not_found"
    status = 404


class AlreadyExists(HashwallError):
    """A unique name (organisation, platform, partner) is already taken."""

    code = "already_exists"
    status = 409


# --- the service itself (5xx) ---------------------------------------------------------------


class IndexNotReady(HashwallError):
    """A search arrived before the index finished building from the store."""

    code = "index_not_ready"
    status = 503


class StoreUnavailable(HashwallError):
    """The database cannot be reached or opened (wrong URL, server down, no permission), or
    this process cannot answer from it now (its live index fell behind): retry after a while."""

    code = "store_unavailable"
    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- operator, keys and feed (appended by the operator/feed work) ---------------------------


class InvalidKey(HashwallError):
    """The API key is unknown, revoked or malformed: one answer for all three (no oracle)."""

    code = "invalid_key"
    status = 401


class InvalidState(HashwallError):
    """The item is not in a state that allows this change (e.g. reinstating an active item)."""

    code = "invalid_state"
    status = 409


class InvalidCursor(InvalidInput):
    """A feed cursor that this service did not issue (or that a newer version cannot read)."""

    code = "invalid_cursor"
    status = 400


# --- cases, checks and verdicts (appended by the intake/check/verdict work) ------------------


class InvalidCredentials(HashwallError):
    """The case number is unknown or the PIN is wrong: one answer for both (no oracle)."""

    code = "invalid_credentials"
    status = 401


class Allowlisted(InvalidInput):
    """The image is on the allowlist (a public image known not to be NCII): it is not banked."""

    code = "allowlisted"
    status = 422


class CaseWithdrawn(HashwallError):
    """The case was withdrawn: nothing more can be added to it (open a new case instead)."""

    code = "case_withdrawn"
    status = 409


class NoItemsAccepted(InvalidInput):
    """Every item of an intake request was refused; no case was opened or changed."""

    code = "no_items_accepted"
    status = 422


# --- the HTTP API's defences (appended by the API work) --------------------------------------


class PayloadTooLarge(InvalidInput):
    """A request body (JSON, form fields) is larger than its limit (``Settings.max_json_bytes``)."""

    code = "payload_too_large"
    status = 413


class MalformedBody(InvalidInput):
    """A request body cannot be parsed (bad multipart framing, wrong length, missing field)."""

    code = "malformed_body"
    status = 400


class UnsupportedContentType(InvalidInput):
    """A request body of a type the route does not take (JSON, or a media form with a key).

    Browsers send ``text/plain``, form-encoded and multipart bodies to any site without asking
    it first; refusing them keeps another site's page from acting through a visitor's browser.
    """

    code = "unsupported_content_type"
    status = 415


class ClientDisconnected(InvalidInput):
    """The client went away before its request body arrived; nobody is left to answer."""

    code = "client_disconnected"
    status = 400


class DecodeFailed(InvalidInput):
    """The decoder crashed or ran out of memory on this input (its worker was replaced).

    422, not 500: the service is fine and the same bytes would fail again; a decoder that dies
    on an input is, for the caller, an image hashwall cannot decode.
    """

    code = "decode_failed"
    status = 422


class DecodeTimeout(InvalidInput):
    """Decoding this input took longer than ``Settings.decode_timeout`` (its worker was killed).

    422, not 503: the time limit counts only the worker's own work on these bytes (waiting for a
    free worker is :class:`Overloaded`), so a retry of the same bytes would time out again.
    """

    code = "decode_timeout"
    status = 422


class RateLimited(HashwallError):
    """Too many requests (per key, per client address, or PIN attempts): retry after a while.

    ``retry_after`` is the number of seconds after which a retry can succeed (the API sends it
    as ``Retry-After``).
    """

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(HashwallError):
    """Every worker of a bounded pool (decoders, PIN checks) stayed busy: retry in a moment."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after

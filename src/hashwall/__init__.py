"""hashwall: fingerprints of intimate images, banked so that platforms can stop them being posted.

Public API::

    from hashwall import hash_image, hash_file
    hashes = hash_file("photo.jpg")          # ImageHashes: pdq, quality, md5, sha256, ...

Names are imported lazily, so that ``import hashwall.index`` does not load the image decoders
and ``import hashwall`` costs nothing. The SDK reads the version from ``hashwall._version``, not
from here, so this module and ``hashwall.client`` do not import each other.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hashwall._version import __version__ as __version__

if TYPE_CHECKING:
    from hashwall.client import AsyncClient, Client
    from hashwall.errors import HashwallError
    from hashwall.hashing.codes import Hash256
    from hashwall.hashing.image import HashMode, ImageHashes, hash_file, hash_image
    from hashwall.hashing.pdq import ORIENTATIONS, Orientation, PdqHash
    from hashwall.hashing.signals import Signal
    from hashwall.settings import Settings

_EXPORTS = {
    "AsyncClient": "hashwall.client",
    "Client": "hashwall.client",
    "HashwallError": "hashwall.errors",
    "Hash256": "hashwall.hashing.codes",
    "HashMode": "hashwall.hashing.image",
    "ImageHashes": "hashwall.hashing.image",
    "hash_file": "hashwall.hashing.image",
    "hash_image": "hashwall.hashing.image",
    "ORIENTATIONS": "hashwall.hashing.pdq",
    "Orientation": "hashwall.hashing.pdq",
    "PdqHash": "hashwall.hashing.pdq",
    "Signal": "hashwall.hashing.signals",
    "Settings": "hashwall.settings",
}

__all__ = [
    "ORIENTATIONS",
    "AsyncClient",
    "Client",
    "Hash256",
    "HashMode",
    "HashwallError",
    "ImageHashes",
    "Orientation",
    "PdqHash",
    "Settings",
    "Signal",
    "hash_file",
    "hash_image",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hashwall' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

"""The matching methods ``hashwall eval`` compares, behind one small interface.

A method banks images (:meth:`Method.enrol`) and checks uploads (:meth:`Method.check`, made of
:meth:`Method.query`, which computes the upload's signals, and :meth:`Method.search`, which
looks them up). Decoding is :meth:`Method.prepare`, outside the timed part. A new method is one
subclass added to :data:`METHODS`.

* ``pdq``: plain PDQ (reference hasher) at radius 31, one hash per side.
* ``pdq8``: the same bank, the upload's 8 dihedral PDQ hashes searched at 31.
* ``regions``: what hashwall did before keypoint codes. Enrolment (``hashwall case create``)
  hashes in reference mode and banks the PDQ hash when its quality is at least the floor
  (``pdq_min_quality``, 50) plus the md5 and sha256 of the file; a check (``hashwall check``)
  hashes the upload in fast mode (reduced JPEG decode) with its 8 orientations, matches the
  digests exactly and the PDQ hashes within the PDQ type's radius (31) when the upload's quality
  is at least the floor, and searches the upload's regions (``hashing.contentbox``: the photo
  inside a border, bars or an app frame, a small rotation on black undone; each its 8 PDQ
  hashes) the same way. Everything goes through ``hashwall.hashing`` and ``hashwall.index``.
* ``crops``: ``regions`` plus 10 banked PDQ hashes of fixed centre and corner windows of each
  photo (90 and 80%): what bank-side sub-regions buy on crops (measured, not adopted).
* ``hashwall``: what hashwall does (``hashwall case create`` banks them, ``hashwall check``
  and the service match them): ``regions`` plus keypoint codes (``hashing.keypoints``): up to
  64 patch codes of each banked photo with their places; an upload matches a photo when
  enough of its own codes (``required_inliers`` of the bank's size: 8 up to about a thousand
  photos) lie within ``CODE_RADIUS`` bits of the photo's and one similarity transform (as it
  is or mirrored) explains their places.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from hashwall.hashing.codes import Hash256
from hashwall.hashing.digests import digests
from hashwall.hashing.pdq import MIN_QUALITY, pdq_reference
from hashwall.index.brute import BruteForceIndex
from hashwall.settings import Settings

PDQ_RADIUS = 31
PDQ_BYTES = 32
MD5_BYTES = 16
SHA256_BYTES = 32

#: A bank position with no value of this method's kind (e.g. a PDQ below the quality floor).
NO_DISTANCE = -1


@dataclass(slots=True)
class Prepared:
    """A decoded upload. ``shared``: methods with the same ``prepare_key`` see this same
    object and may reuse each other's work through ``memo`` (the runner shares it only where
    it does not time the checks)."""

    data: bytes
    image: Any  # hashwall.media.decode.DecodedImage
    shared: bool = False
    memo: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Stored:
    """What a method keeps for one banked image: how many values and how many bytes."""

    values: int
    nbytes: int


class Method(ABC):
    """One matching method: a bank and how an upload is checked against it.

    Ids are the bank positions ``0 .. n-1`` in the order of :meth:`enrol`. Instances are
    pickled to worker processes after enrolment (the index is rebuilt there).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    #: Whether a run compares it when no methods are named.
    default: ClassVar[bool] = True

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.size = 0

    #: Methods with the same key decode an upload alike and may share one :class:`Prepared`.
    prepare_key: ClassVar[str] = "full"

    def prepare(self, data: bytes, shared: bool = False) -> Prepared:
        """Decode an upload as this method's check would (not timed)."""
        from hashwall.media.decode import decode_image

        return Prepared(data, decode_image(data, self.settings), shared)

    @abstractmethod
    def enrol(self, prepared: Prepared) -> Stored:
        """Bank one image (id = the number of images banked before it)."""

    @abstractmethod
    def query(self, prepared: Prepared) -> Any:
        """The upload's signals (timed with :meth:`search`)."""

    @abstractmethod
    def search(self, query: Any) -> dict[int, int]:
        """Bank ids this method reports as matches, with their distance (timed)."""

    def distances(self, query: Any) -> npt.NDArray[np.int64] | None:
        """The distance to every banked id (``NO_DISTANCE`` where none), for the histograms;
        None for a method without a distance."""
        return None

    def scores(self, query: Any) -> npt.NDArray[np.int64] | None:
        """A second measure for every banked id where a method has one (keypoint inliers:
        higher is closer), for its own histograms; None for most methods."""
        return None

    def check(self, prepared: Prepared) -> dict[int, int]:
        """``search(query(prepared))``: the matched bank ids and their distances."""
        return self.search(self.query(prepared))


class _PdqBank:
    """PDQ codes by bank id, searched with the project's exact index (rebuilt after pickling)."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.codes: list[bytes] = []
        self._index: BruteForceIndex | None = None
        self._array: npt.NDArray[np.uint8] | None = None

    def add(self, item_id: int, code: Hash256) -> None:
        self.ids.append(item_id)
        self.codes.append(code.value)
        self._index, self._array = None, None

    def __getstate__(self) -> dict[str, Any]:
        return {"ids": self.ids, "codes": self.codes}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.ids, self.codes = state["ids"], state["codes"]
        self._index, self._array = None, None

    def array(self) -> npt.NDArray[np.uint8]:
        if self._array is None:
            raw = b"".join(self.codes)
            self._array = np.frombuffer(raw, dtype=np.uint8).reshape(len(self.codes), 32)
        return self._array

    def index(self) -> BruteForceIndex:
        if self._index is None:
            self._index = BruteForceIndex()
            if self.ids:
                self._index.add(np.asarray(self.ids, dtype=np.int64), self.array())
        return self._index

    def distances(self, queries: list[Hash256], size: int) -> npt.NDArray[np.int64]:
        """Smallest distance over ``queries`` to every id ``0 .. size-1``."""
        out = np.full(size, NO_DISTANCE, dtype=np.int64)
        if self.ids and queries:
            q = np.frombuffer(b"".join(h.value for h in queries), dtype=np.uint8).reshape(-1, 32)
            d = np.bitwise_count(q[:, None, :] ^ self.array()[None, :, :]).sum(
                axis=2, dtype=np.int64
            )
            out[np.asarray(self.ids)] = d.min(axis=0)
        return out


class PdqMethod(Method):
    """Plain PDQ at 31: the reference hash of each side, no orientations, no quality floor."""

    name = "pdq"
    description = "plain PDQ (reference hasher), radius 31"
    orientations = False

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.bank = _PdqBank()

    def enrol(self, prepared: Prepared) -> Stored:
        self.bank.add(self.size, pdq_reference(prepared.image.pixels).hash)
        self.size += 1
        return Stored(1, PDQ_BYTES)

    def query(self, prepared: Prepared) -> list[Hash256]:
        if prepared.shared:  # pdq and pdq8 hash a shared upload once (dihedral[0] is plain)
            if "pdq_dihedral" not in prepared.memo:
                result = pdq_reference(prepared.image.pixels, dihedral=True)
                prepared.memo["pdq_dihedral"] = list(result.orientations or ())
            turned: list[Hash256] = prepared.memo["pdq_dihedral"]
            return turned if self.orientations else turned[:1]
        result = pdq_reference(prepared.image.pixels, dihedral=self.orientations)
        return list(result.orientations or (result.hash,))

    def search(self, query: list[Hash256]) -> dict[int, int]:
        index = self.bank.index()
        if len(query) == 1:
            return {m.id: m.distance for m in index.search(query[0], PDQ_RADIUS)}
        return {m.id: m.distance for m in index.search_dihedral(query, PDQ_RADIUS)}

    def distances(self, query: list[Hash256]) -> npt.NDArray[np.int64]:
        return self.bank.distances(query, self.size)


class Pdq8Method(PdqMethod):
    """PDQ with the upload's 8 orientations (the bank holds one hash per image)."""

    name = "pdq8"
    description = "PDQ, upload in 8 orientations, radius 31"
    orientations = True


@dataclass(frozen=True, slots=True)
class _HashwallQuery:
    md5: str
    sha256: str
    quality: int
    orientations: list[Hash256]


class _HashwallPdqMethod(Method):
    """hashwall without content boxes (as it was before them): reference-mode enrolment (PDQ
    above the quality floor, md5, sha256); fast-mode checks with 8 orientations and exact
    digests. Not compared on its own (``pdq8`` shows the same); :class:`RegionsMethod` adds
    the regions."""

    name = "hashwall_pdq"
    description = "PDQ >= quality 50 in 8 orientations, md5, sha256"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.bank = _PdqBank()
        self.digests: dict[str, int] = {}
        self.min_quality = getattr(self.settings, "pdq_min_quality", MIN_QUALITY)

    prepare_key = "fast"

    def prepare(self, data: bytes, shared: bool = False) -> Prepared:
        from hashwall.hashing.fast import FAST_DRAFT_MIN_SIDE
        from hashwall.media.decode import decode_image

        image = decode_image(data, self.settings, draft_min_side=FAST_DRAFT_MIN_SIDE)
        return Prepared(data, image, shared)

    def enrol(self, prepared: Prepared) -> Stored:
        # Enrolment hashes the full-resolution pixels (reference mode, as ``case create``).
        from hashwall.media.decode import decode_image

        data = prepared.data
        image = decode_image(data, self.settings)
        result = pdq_reference(image.pixels)
        d = digests(data)
        item_id = self.size
        self.size += 1
        self.digests.setdefault(d.md5, item_id)
        self.digests.setdefault(d.sha256, item_id)
        if result.quality >= self.min_quality:
            self.bank.add(item_id, result.hash)
            return Stored(3, PDQ_BYTES + MD5_BYTES + SHA256_BYTES)
        return Stored(2, MD5_BYTES + SHA256_BYTES)

    def query(self, prepared: Prepared) -> _HashwallQuery:
        from hashwall.hashing.fast import pdq_fast

        data, image = prepared.data, prepared.image
        d = digests(data)
        result = pdq_fast(image.pixels, dihedral=True, full_size=(image.height, image.width))
        return _HashwallQuery(d.md5, d.sha256, result.quality, list(result.orientations or ()))

    def search(self, query: _HashwallQuery) -> dict[int, int]:
        found: dict[int, int] = {}
        for digest in (query.md5, query.sha256):
            if digest in self.digests:
                found[self.digests[digest]] = 0
        if query.quality >= self.min_quality:
            for m in self.bank.index().search_dihedral(query.orientations, PDQ_RADIUS):
                found[m.id] = min(m.distance, found.get(m.id, m.distance))
        return found

    def distances(self, query: _HashwallQuery) -> npt.NDArray[np.int64]:
        return self.bank.distances(query.orientations, self.size)


@dataclass(frozen=True, slots=True)
class _BoxesQuery:
    upload: _HashwallQuery
    #: Each usable content candidate's 8 orientations (``hashwall.hashing.contentbox``).
    regions: list[list[Hash256]]


class RegionsMethod(_HashwallPdqMethod):
    """What hashwall does: the bank of ``case create`` (PDQ >= quality 50, md5, sha256), and
    the check of ``hashwall check``: the upload's 8 fast PDQ hashes and digests, plus its
    regions (``hashing.contentbox``: the candidate rectangles of photo content, pads, bars and
    frames removed, a small rotation on black undone), each hashed with fast PDQ in 8
    orientations and searched like the upload's own hash."""

    name = "regions"
    description = (
        "PDQ >= quality 50 in 8 orientations, md5, sha256; the upload's regions (content "
        "boxes: pads, bars, letterbox, app frame, deskew on black) searched too"
    )

    def query(self, prepared: Prepared) -> _BoxesQuery:  # type: ignore[override]
        from hashwall.hashing.contentbox import region_hashes

        image = prepared.image
        full_size = (image.height, image.width)
        regions = region_hashes(image.pixels, full_size, self.min_quality)
        return _BoxesQuery(super().query(prepared), [list(r) for r in regions])

    def search(self, query: _BoxesQuery) -> dict[int, int]:  # type: ignore[override]
        found = super().search(query.upload)
        index = self.bank.index()
        for orientations in query.regions:
            for m in index.search_dihedral(orientations, PDQ_RADIUS):
                found[m.id] = min(m.distance, found.get(m.id, m.distance))
        return found

    def distances(self, query: _BoxesQuery) -> npt.NDArray[np.int64]:  # type: ignore[override]
        hashes = list(query.upload.orientations)
        for orientations in query.regions:
            hashes += orientations
        return self.bank.distances(hashes, self.size)


#: Windows of a banked photo hashed besides the whole (``crops`` method): (left, top, right,
#: bottom) as shares of the width and height: the centre at 90 and 80%, the four corners at 90
#: and 80%.
CROP_WINDOWS: tuple[tuple[float, float, float, float], ...] = (
    (0.05, 0.05, 0.95, 0.95),
    (0.10, 0.10, 0.90, 0.90),
    *((x, y, x + k, y + k) for k in (0.9, 0.8) for x in (0.0, 1 - k) for y in (0.0, 1 - k)),
)


class CropsMethod(RegionsMethod):
    """``hashwall`` plus bank-side crops: PDQ of :data:`CROP_WINDOWS` of each banked photo
    (10 more hashes); a match of any of a photo's hashes is a match of the photo. Measures
    what fixed sub-regions buy on crops; they fit crops that keep the centre or a corner."""

    name = "crops"
    description = "hashwall + 10 banked PDQ hashes of centre and corner windows (90%, 80%)"

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.crops = _PdqBank()
        self.crop_owner: list[int] = []

    def enrol(self, prepared: Prepared) -> Stored:
        from hashwall.media.decode import decode_image

        stored = super().enrol(prepared)
        item_id = self.size - 1
        pixels = decode_image(prepared.data, self.settings).pixels
        h, w = pixels.shape[:2]
        added = 0
        for x0, y0, x1, y1 in CROP_WINDOWS:
            window = pixels[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]
            result = pdq_reference(np.ascontiguousarray(window))
            if result.quality >= self.min_quality:
                self.crops.add(len(self.crop_owner), result.hash)
                self.crop_owner.append(item_id)
                added += 1
        return Stored(stored.values + added, stored.nbytes + added * PDQ_BYTES)

    def search(self, query: _BoxesQuery) -> dict[int, int]:  # type: ignore[override]
        found = super().search(query)
        index = self.crops.index()
        uploads = [query.upload.orientations] if query.upload.quality >= self.min_quality else []
        for orientations in [*uploads, *query.regions]:
            for m in index.search_dihedral(orientations, PDQ_RADIUS):
                owner = self.crop_owner[m.id]
                found[owner] = min(m.distance, found.get(owner, m.distance))
        return found

    def distances(self, query: _BoxesQuery) -> npt.NDArray[np.int64]:  # type: ignore[override]
        out = super().distances(query)
        hashes = list(query.upload.orientations)
        for orientations in query.regions:
            hashes += orientations
        per_crop = self.crops.distances(hashes, len(self.crop_owner))
        for crop_id, d in enumerate(per_crop):
            owner = self.crop_owner[crop_id]
            if d >= 0 and (out[owner] < 0 or d < out[owner]):
                out[owner] = d
        return out


@dataclass(slots=True)
class _KeypointsQuery:
    boxes: _BoxesQuery
    keypoints: Any  # hashwall.hashing.keypoints.Keypoints
    #: Inliers by bank id, once computed (search and scores share them).
    inliers: dict[int, int] | None = None


class HashwallMethod(RegionsMethod):
    """``hashwall`` plus keypoint codes: each banked photo's :func:`keypoints` (the bank's
    settings), each upload's (the query's settings), matched by :func:`match_inliers`. The
    codes are searched by brute force here (the bank of a run is small)."""

    name = "hashwall"
    description = "regions + keypoint codes (64 per photo) verified by one similarity transform"
    prepare_key = "keypoints"
    #: Whether a transform must also pass the rules on close codes, spread and keypoints found
    #: again (``inliers(copy_rules=...)``).
    copy_rules: ClassVar[bool] = True

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(settings)
        self.banked: list[Any] = []
        #: The bank's codes in one array, with their ids and each id's start (built on use).
        self._codes: (
            tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]] | None
        ) = None

    def prepare(self, data: bytes, shared: bool = False) -> Prepared:
        from hashwall.hashing.keypoints import QUERY_DRAFT_MIN_SIDE
        from hashwall.media.decode import decode_image

        image = decode_image(data, self.settings, draft_min_side=QUERY_DRAFT_MIN_SIDE)
        return Prepared(data, image, shared)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_codes"] = None
        return state

    def enrol(self, prepared: Prepared) -> Stored:
        from hashwall.hashing.keypoints import RECORD_BYTES, keypoints
        from hashwall.media.decode import decode_image

        stored = super().enrol(prepared)
        found = keypoints(decode_image(prepared.data, self.settings).pixels)
        self.banked.append(found)
        self._codes = None
        return Stored(stored.values + len(found), stored.nbytes + len(found) * RECORD_BYTES)

    def _bank_codes(
        self,
    ) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every banked code in one array, the bank id of each, and where each id's codes start."""
        if self._codes is None:
            sizes = [len(k) for k in self.banked]
            self._codes = (
                np.concatenate([k.codes for k in self.banked]).astype(np.uint64),
                np.repeat(np.arange(len(self.banked)), sizes),
                np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            )
        return self._codes

    def query(self, prepared: Prepared) -> _KeypointsQuery:  # type: ignore[override]
        from hashwall.hashing.keypoints import upload_keypoints

        found = upload_keypoints(prepared.image.pixels)
        return _KeypointsQuery(super().query(prepared), found)

    def _inliers(self, query: _KeypointsQuery) -> dict[int, int]:
        from hashwall.hashing.keypoint_verify import inliers
        from hashwall.hashing.keypoints import CODE_RADIUS, code_distances

        if query.inliers is not None:
            return query.inliers
        best: dict[int, int] = {}
        query.inliers = best
        if not self.banked or not len(query.keypoints):
            return best
        codes, owner, starts = self._bank_codes()
        for side in (query.keypoints, query.keypoints.mirrored()):
            q_idx, c_idx = np.nonzero(code_distances(side.codes, codes) <= CODE_RADIUS)
            owners = owner[c_idx]
            for item in np.unique(owners):
                sel = owners == item
                n = inliers(
                    side,
                    self.banked[item],
                    q_idx[sel],
                    c_idx[sel] - starts[item],
                    copy_rules=self.copy_rules,
                )
                best[int(item)] = max(best.get(int(item), 0), n)
        return best

    def search(self, query: _KeypointsQuery) -> dict[int, int]:  # type: ignore[override]
        from hashwall.hashing.keypoints import required_inliers

        found = super().search(query.boxes)
        level = required_inliers(self.size)
        for item, n in self._inliers(query).items():
            if n >= level and item not in found:
                found[item] = PDQ_RADIUS  # no PDQ distance: at the threshold
        return found

    def distances(self, query: _KeypointsQuery) -> npt.NDArray[np.int64]:  # type: ignore[override]
        return super().distances(query.boxes)

    def scores(self, query: _KeypointsQuery) -> npt.NDArray[np.int64]:
        out = np.zeros(self.size, dtype=np.int64)
        for item, n in self._inliers(query).items():
            out[item] = n
        return out


class LooseHashwallMethod(HashwallMethod):
    """``hashwall`` without the keypoint rules on close codes, spread and keypoints found again
    (the rules that make a transform look like a copy): what they remove
    (its false matches and inliers per pair against ``hashwall``'s). Not run by default."""

    name = "hashwall_loose"
    description = "hashwall without the copy rules of keypoints (to show what they remove)"
    copy_rules = False
    default = False


#: The methods a run compares, by name, in report order.
METHODS: dict[str, type[Method]] = {
    m.name: m
    for m in (
        PdqMethod,
        Pdq8Method,
        RegionsMethod,
        CropsMethod,
        HashwallMethod,
        LooseHashwallMethod,
    )
}
#: The methods a run compares when none are named.
DEFAULT_METHODS: tuple[str, ...] = tuple(n for n, m in METHODS.items() if m.default)

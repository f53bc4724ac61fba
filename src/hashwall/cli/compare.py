"""``hashwall compare``: compare two images, two hashes or two videos.

``compare A B`` with two videos judges A as an upload against B as a banked video with the
video rule (:mod:`hashwall.hashing.video_match`): A is hashed at one frame a second as it is
and mirrored, B at every frame (a bank is hashed densely so that an upload's samples find it
whatever their phase).

``compare A B --keypoints`` with two images also judges A as an upload against B as a banked
photo by their keypoint codes (:mod:`hashwall.hashing.keypoints`): a crop, a turn with its
corners cut, a caption or a screenshot of B that PDQ misses.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from hashwall.cli.hashing import hash_video_file
from hashwall.cli.output import progress_bar
from hashwall.errors import FileUnreadable, HashwallError, InvalidHash, InvalidInput
from hashwall.hashing.image import hash_file
from hashwall.hashing.pdq import MIN_QUALITY, ORIENTATIONS, PdqHash
from hashwall.hashing.video_match import (
    DEFAULT_BANKED_PERCENT,
    DEFAULT_UPLOAD_PERCENT,
    VideoFrames,
    VideoMatch,
    match_video,
)
from hashwall.media.video import is_video_file
from hashwall.settings import Settings

DEFAULT_THRESHOLD = 31

#: ``hashwall compare`` exit codes, as ``cmp`` and ``diff`` use them.
COMPARE_MATCH = 0
COMPARE_NO_MATCH = 1
COMPARE_ERROR = 2


def _fail(exc: HashwallError, json_out: bool) -> NoReturn:
    """Say why an operand could not be read or hashed, and exit with COMPARE_ERROR."""
    if json_out:
        sys.stdout.write(json.dumps({"match": False, "error": exc.to_dict()}) + "\n")
    else:
        Console(stderr=True).print(f"[red]{exc.code}[/red]: {exc.message}")
    raise typer.Exit(COMPARE_ERROR)


def _operand(
    text: str, settings: Settings, fast: bool
) -> tuple[PdqHash, int | None, tuple[PdqHash, ...] | None]:
    """A hash (64 hex digits) or a file: its PDQ hash, quality (None for a hash), orientations."""
    path = Path(text)
    if not path.exists() and len(text) == 64:
        try:
            return PdqHash.from_hex(text), None, None
        except InvalidHash:
            pass
    if not path.exists():
        raise FileUnreadable(f"{text!r} is neither an existing file nor a 64-hex-digit PDQ hash")
    result = hash_file(path, fast=fast, orientations=True, settings=settings)
    return result.pdq, result.quality, result.orientations


def _keypoint_match(a: str, b: str, settings: Settings) -> dict[str, object]:
    """A (the upload) against B (the banked photo) by keypoint codes; both must be files."""
    from hashwall.hashing.keypoints import (
        MIN_INLIERS,
        keypoints,
        match_inliers,
        upload_keypoints,
    )
    from hashwall.media.decode import decode_image

    pixels = []
    for text in (a, b):
        path = Path(text)
        if not path.is_file():
            raise InvalidInput(f"--keypoints compares two image files; {text!r} is not one")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise FileUnreadable(f"cannot read {text!r}: {exc.strerror}") from exc
        pixels.append(decode_image(data, settings).pixels)
    upload = upload_keypoints(pixels[0])
    inliers = match_inliers(upload, keypoints(pixels[1]))
    return {"inliers": inliers, "min_inliers": MIN_INLIERS, "match": inliers >= MIN_INLIERS}


def _both_videos(a: str, b: str, settings: Settings) -> bool:
    paths = (Path(a), Path(b))
    return all(p.is_file() and is_video_file(p, settings) for p in paths)


def _compare_videos(
    a: Path,
    b: Path,
    settings: Settings,
    *,
    threshold: int,
    upload_percent: float,
    banked_percent: float,
    seconds_per_hash: float | None,
    banked_seconds_per_hash: float,
    fast: bool,
    json_out: bool,
) -> VideoMatch:
    """Hash A (the upload, mirrored too) and B (the banked video), and apply the video rule."""
    with progress_bar() as progress:
        upload = hash_video_file(a, settings, seconds_per_hash, fast, progress, mirror=True)
        banked = hash_video_file(b, settings, banked_seconds_per_hash, fast, progress)
    result = match_video(
        VideoFrames.from_video(upload, settings.pdq_min_quality),
        VideoFrames.from_video(banked, settings.pdq_min_quality),
        threshold=threshold,
        upload_percent=upload_percent,
        banked_percent=banked_percent,
    )
    if json_out:
        out = {"kind": "video", **result.to_dict(), "threshold": threshold}
        out["a"] = {
            "role": "upload",
            "frames": len(upload.frames),
            "duration": round(upload.duration, 3),
        }
        out["b"] = {
            "role": "banked",
            "frames": len(banked.frames),
            "duration": round(banked.duration, 3),
        }
        sys.stdout.write(json.dumps(out) + "\n")
        return result
    console = Console()
    verdict = "[green]match[/green]" if result.match else "[yellow]no match[/yellow]"
    console.print(
        f"{verdict} ({result.reason}): {result.upload_frames_matched_pct:.1f}% of A's "
        f"{len(upload.frames)} frames found in B, {result.banked_frames_matched_pct:.1f}% of "
        f"B's {len(banked.frames)} frames found in A; {result.ordered_frames} in order"
        + (", A mirrored" if result.mirrored else "")
    )
    for name, spans in (("A", result.upload_ranges), ("B", result.banked_ranges)):
        if spans:
            text = ", ".join(f"{r.start:.1f}-{r.end:.1f} s" for r in spans)
            console.print(f"  matched in {name}: {text}")
    return result


def compare_command(
    a: Annotated[
        str,
        typer.Argument(help="An image or video file, or a 64-hex PDQ hash (videos: the upload)."),
    ],
    b: Annotated[
        str,
        typer.Argument(
            help="An image or video file, or a 64-hex PDQ hash (videos: the banked one)."
        ),
    ],
    threshold: Annotated[
        int,
        typer.Option(
            min=0, max=255, help="Largest distance that counts as a match (videos: per frame)."
        ),
    ] = DEFAULT_THRESHOLD,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    fast: Annotated[bool, typer.Option("--fast", help="Fast mode for files.")] = False,
    upload_percent: Annotated[
        float,
        typer.Option(min=0, max=100, help="Videos: share of A's frames found in B that matches."),
    ] = DEFAULT_UPLOAD_PERCENT,
    banked_percent: Annotated[
        float,
        typer.Option(min=0, max=100, help="Videos: share of B's frames found in A that matches."),
    ] = DEFAULT_BANKED_PERCENT,
    seconds_per_hash: Annotated[
        float | None,
        typer.Option(min=0, help="Videos: seconds between A's hashed frames (default 1)."),
    ] = None,
    banked_seconds_per_hash: Annotated[
        float,
        typer.Option(min=0, help="Videos: seconds between B's hashed frames (0: every frame)."),
    ] = 0.0,
    keypoints: Annotated[
        bool,
        typer.Option(
            "--keypoints",
            help="Images: also match A (an upload) against B (a banked photo) by keypoint codes.",
        ),
    ] = False,
) -> None:
    """Distance between two images or hashes, in the best of the 8 orientations; or whether
    video A (an upload) holds video B (a banked video).

    Two videos: A is hashed at one frame a second, as it is and mirrored, B at every frame;
    they match when at least --upload-percent of A's distinct frames are within --threshold of
    B's, or --banked-percent of B's frames are found in A, with at least 3 distinct frames in
    the same order in both. --json prints match, reason, upload_frames_matched_pct,
    banked_frames_matched_pct, ordered_frames, mirrored and ranges (upload and banked, in
    seconds).

    --keypoints (two image files): A also matches B when at least the keypoint rule's number of
    A's keypoint codes, as it is or mirrored, fit one placement of B's (crops, turns, captions,
    screenshots); --json adds keypoints: {inliers, min_inliers, match}, and the reason is
    keypoints when only they match.

    Exit codes: 0 they match (distance within --threshold, both usable); 1 they do not match
    (beyond the threshold, or an image too featureless to match on: reason low_quality); 2 an
    operand could not be read or hashed, or the command line is wrong.
    """
    settings = Settings()
    console = Console()
    if _both_videos(a, b, settings):
        try:
            result = _compare_videos(
                Path(a),
                Path(b),
                settings,
                threshold=threshold,
                upload_percent=upload_percent,
                banked_percent=banked_percent,
                seconds_per_hash=seconds_per_hash,
                banked_seconds_per_hash=banked_seconds_per_hash,
                fast=fast,
                json_out=json_out,
            )
        except HashwallError as exc:
            _fail(exc, json_out)
        raise typer.Exit(COMPARE_MATCH if result.match else COMPARE_NO_MATCH)
    try:
        ha, qa, oa = _operand(a, settings, fast)
        hb, qb, ob = _operand(b, settings, fast)
    except HashwallError as exc:
        _fail(exc, json_out)
    # The rotated side is a file (its 8 dihedral hashes are known); a bare hash cannot be rotated.
    rotated: str | None = None
    distances: list[tuple[int, str]]
    if ob is not None:
        rotated = "b"
        distances = [(ha.distance(h), o.value) for o, h in zip(ORIENTATIONS, ob, strict=True)]
    elif oa is not None:
        rotated = "a"
        distances = [(hb.distance(h), o.value) for o, h in zip(ORIENTATIONS, oa, strict=True)]
    else:
        distances = [(ha.distance(hb), ORIENTATIONS[0].value)]
    distance, orientation = min(distances, key=lambda d: d[0])
    low = [q for q in (qa, qb) if q is not None and q < MIN_QUALITY]
    match = distance <= threshold and not low
    reason = "low_quality" if low else ("within_threshold" if match else "beyond_threshold")
    by_keypoints: dict[str, object] | None = None
    if keypoints:
        try:
            by_keypoints = _keypoint_match(a, b, settings)
        except HashwallError as exc:
            _fail(exc, json_out)
        if by_keypoints["match"] and not match:
            match, reason = True, "keypoints"
    out: dict[str, object] = {
        "match": match,
        "distance": distance,
        "orientation": orientation,
        "rotated": rotated,
        "threshold": threshold,
        "reason": reason,
        "a": {"pdq": ha.hex, "quality": qa},
        "b": {"pdq": hb.hex, "quality": qb},
    }
    if by_keypoints is not None:
        out["keypoints"] = by_keypoints
    if json_out:
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        verdict = "[green]match[/green]" if match else "[yellow]no match[/yellow]"
        where = (
            f" ({rotated.upper()} {orientation})" if rotated and orientation != "original" else ""
        )
        console.print(f"{verdict}: distance {distance}{where}, threshold {threshold}")
        if low:
            console.print(f"quality below {MIN_QUALITY}: too featureless to match on")
        if by_keypoints is not None:
            console.print(
                f"keypoints: {by_keypoints['inliers']} of A's fit one placement of B "
                f"({by_keypoints['min_inliers']} needed)"
            )
    raise typer.Exit(COMPARE_MATCH if match else COMPARE_NO_MATCH)


__all__ = ["compare_command"]

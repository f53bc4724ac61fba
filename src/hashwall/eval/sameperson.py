"""The hardest false-match class: different photos of the same person, framed alike.

A person's ordinary photos must stay postable when their intimate ones are banked. This
module rebuilds a small public set of such photos and checks every photo of it, plain and with
the shared overlays, against a bank holding all the others.

The set: 15 distinct photos of 5 people (3 + 2 + 3 + 5 + 2), portraits and face crops, from
the example and test images of the ``face_recognition`` project (github.com/ageitgey/
face_recognition, MIT licence; the Obama and Biden photos are official US-government
portraits). Copies of one photo (the same portrait in several folders, pillarboxed video
frames, crops, a collage of two photos) are left out: they are transforms, not other photos.
Nothing is stored in hashwall's repository; rebuild it from a clone of that repository::

    git clone https://github.com/ageitgey/face_recognition /tmp/face_recognition
    python -m hashwall.eval.sameperson /tmp/face_recognition ~/eval-sameperson

and pass the folder to ``hashwall eval --same-person ~/eval-sameperson``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hashwall.eval.methods import METHODS
from hashwall.eval.runner import list_images, upload_bytes
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE, transform_rng

COMMIT = "2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1"

#: (person, path in the repository, first 16 hex digits of the file's sha256).
MANIFEST: tuple[tuple[str, str, str], ...] = (
    ("alex_lacamoire", "examples/alex-lacamoire.png", "affd4bba70510b20"),
    ("alex_lacamoire", "examples/knn_examples/test/alex_lacamoire1.jpg", "69c21d12ef62965b"),
    ("alex_lacamoire", "examples/knn_examples/train/alex_lacamoire/img1.jpg", "348e0a705ebd86f5"),
    ("biden", "examples/biden.jpg", "3c17508bb91554c6"),
    ("biden", "examples/knn_examples/train/biden/biden2.jpg", "593ae76f7fdafe58"),
    ("kit_harington", "examples/knn_examples/test/johnsnow_test1.jpg", "eb08fa837c8a8605"),
    ("kit_harington", "examples/knn_examples/train/kit_harington/john1.jpeg", "74872ce95f0af636"),
    ("kit_harington", "examples/knn_examples/train/kit_harington/john2.jpeg", "c0970011d277d477"),
    ("obama", "examples/knn_examples/test/obama1.jpg", "a2840cf4fd84072f"),
    ("obama", "examples/obama.jpg", "0930e3aa8cae5920"),
    ("obama", "examples/obama2.jpg", "a7efcc9073752747"),
    ("obama", "examples/obama_small.jpg", "a17d127a14c9bd57"),
    ("obama", "tests/test_images/obama3.jpg", "76ac6bf97c36dc2d"),
    ("rose_leslie", "examples/knn_examples/train/rose_leslie/img1.jpg", "0f3903bcc72a9c54"),
    ("rose_leslie", "examples/knn_examples/train/rose_leslie/img2.jpg", "274a9c97300ed165"),
)


def _read(repo: Path, path: str) -> bytes:
    """A file of the pinned commit: from git (a clone or a bare mirror), else the work tree."""
    try:
        return subprocess.run(
            ["git", f"--git-dir={_git_dir(repo)}", "show", f"{COMMIT}:{path}"],
            check=True,
            capture_output=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return (repo / path).read_bytes()


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def rebuild(repo: Path, out: Path) -> list[Path]:
    """Write the set into ``out/<person>/<file>``; every file's sha256 is checked."""
    written: list[Path] = []
    for person, path, digest in MANIFEST:
        data = _read(repo, path)
        if hashlib.sha256(data).hexdigest()[:16] != digest:
            raise ValueError(f"{path}: not the file of commit {COMMIT[:12]} (sha256 differs)")
        target = out / person / Path(path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written


def person_of(path: Path) -> str:
    """The person of a photo of the set: its folder's name."""
    return path.parent.name


def check_same_person(
    folder: Path, seed: int = 0, method_names: Sequence[str] | None = None
) -> dict[str, Any]:
    """Bank every photo of ``folder`` with each method (``method_names``, default all), check
    every photo (plain and with the shared overlays) against the others; any match is a false
    match."""
    from PIL import Image

    photos = list_images(folder)
    uploads: list[tuple[int, str, bytes]] = []
    for i, path in enumerate(photos):
        data = path.read_bytes()
        uploads.append((i, "plain", data))
        with Image.open(path) as opened:
            img = opened.convert("RGB")
        for name in SHARED_OVERLAYS:
            uploads.append((i, name, upload_bytes(SUITE[name](img, transform_rng(seed, i, name)))))
    result: dict[str, Any] = {"photos": len(photos), "people": len({person_of(p) for p in photos})}
    methods: dict[str, Any] = {}
    for name in method_names or tuple(METHODS):
        method = METHODS[name]()
        for path in photos:
            method.enrol(method.prepare(path.read_bytes()))
        false: list[dict[str, Any]] = []
        closest_same, closest_other = 256, 256
        inliers_same, inliers_other = -1, -1
        for i, variant, data in uploads:
            query = method.query(method.prepare(data))
            for j, distance in sorted(method.search(query).items()):
                if j != i:
                    false.append(
                        {
                            "photo": str(photos[i]),
                            "variant": variant,
                            "banked": str(photos[j]),
                            "distance": distance,
                            "same_person": person_of(photos[i]) == person_of(photos[j]),
                        }
                    )
            scores = method.scores(query)
            if scores is not None:
                for j, n in enumerate(scores.tolist()):
                    if j == i:
                        continue
                    if person_of(photos[i]) == person_of(photos[j]):
                        inliers_same = max(inliers_same, n)
                    else:
                        inliers_other = max(inliers_other, n)
            dist = method.distances(query)
            if dist is not None:
                for j, d in enumerate(dist.tolist()):
                    if j == i or d < 0:
                        continue
                    if person_of(photos[i]) == person_of(photos[j]):
                        closest_same = min(closest_same, d)
                    else:
                        closest_other = min(closest_other, d)
        methods[name] = {
            "pairs": len(uploads) * (len(photos) - 1),
            "false_matches": len(false),
            "same_person_false_matches": sum(1 for f in false if f["same_person"]),
            "closest_same_person": closest_same,
            "closest_other_person": closest_other,
            "matches": false,
        }
        if inliers_same >= 0:
            methods[name]["most_inliers_same_person"] = inliers_same
            methods[name]["most_inliers_other_person"] = inliers_other
    result["methods"] = methods
    return result


def main(argv: list[str]) -> int:
    """``python -m hashwall.eval.sameperson REPO OUT``: rebuild the set into OUT."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    written = rebuild(Path(argv[0]), Path(argv[1]))
    print(f"wrote {len(written)} photos of {len({person_of(p) for p in written})} people")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

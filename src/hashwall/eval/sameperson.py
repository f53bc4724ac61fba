"""The hardest false-match class: different photos of the same person, framed alike.

A person's ordinary photos must stay postable when their intimate ones are banked. This
module rebuilds a public set of such photos and checks every photo of it, plain and with the
shared overlays, against a bank holding all the others.

The set: 119 distinct photos of 28 people (2 to 8 each): portraits, press photos of one
person at several events, and tight grey face crops framed alike, from the example and test
images of four public repositories (:data:`SOURCES`, each pinned to a commit and every file to
its sha256):

* ``face_recognition`` (github.com/ageitgey/face_recognition, MIT): 14 photos of 5 people;
* ``deepface`` (github.com/serengil/deepface, MIT): 61 photos of 13 people, grouped as its
  ``tests/unit/dataset/master.csv`` and ``face-recognition-pivot.csv`` pair them;
* ``face-api.js`` (github.com/justadudewhohacks/face-api.js, MIT): 40 face crops (150x150,
  grey) of 8 actors, 5 each, one folder per character in that repository;
* ``openface`` (github.com/cmusatyalab/openface, Apache-2.0): 4 photos of 2 people.

The repositories' licences cover their code; most photos show public figures and their
photographers' rights are not the repositories' to give, so hashwall stores none of them:
the set is rebuilt on the user's machine, for measurement only. Copies of one photo (the same
portrait in several folders, pillarboxed video frames, crops, a mirror-padded copy, a collage
of two photos) are left out: they are transforms, not other photos; so are group photos.
Rebuild the set from clones of the four repositories::

    git clone https://github.com/ageitgey/face_recognition /tmp/face_recognition
    git clone https://github.com/serengil/deepface /tmp/deepface
    git clone https://github.com/justadudewhohacks/face-api.js /tmp/face-api.js
    git clone https://github.com/cmusatyalab/openface /tmp/openface
    python -m hashwall.eval.sameperson /tmp/face_recognition /tmp/deepface /tmp/face-api.js \\
        /tmp/openface ~/eval-sameperson

(the repositories in any order, the output folder last) and pass the folder to
``hashwall eval --same-person ~/eval-sameperson``. Each photo is written as
``OUT/<person>/<source>-<file name>``, its bytes as in the repository (JPEG or PNG).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hashwall.eval.methods import DEFAULT_METHODS, METHODS
from hashwall.eval.runner import list_images, upload_bytes
from hashwall.eval.transforms import SHARED_OVERLAYS, SUITE, transform_rng


@dataclass(frozen=True, slots=True)
class Source:
    """A public repository the set takes photos from, pinned to one commit."""

    name: str
    url: str
    commit: str
    licence: str
    #: (person, path in the repository, first 16 hex digits of the file's sha256).
    photos: tuple[tuple[str, str, str], ...]

    def clone_line(self) -> str:
        return f"git clone {self.url} /tmp/{self.name}"


#: Left out: the same portraits in other folders, pillarboxed video frames, crops (such as
#: ``examples/obama_small.jpg``, the head of ``obama.jpg``), a collage of two photos.
_FACE_RECOGNITION_PHOTOS = (
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
    ("obama", "tests/test_images/obama3.jpg", "76ac6bf97c36dc2d"),
    ("rose_leslie", "examples/knn_examples/train/rose_leslie/img1.jpg", "0f3903bcc72a9c54"),
    ("rose_leslie", "examples/knn_examples/train/rose_leslie/img2.jpg", "274a9c97300ed165"),
)

FACE_RECOGNITION = Source(
    "face_recognition",
    "https://github.com/ageitgey/face_recognition",
    "2e2dccea9dd0ce730c8d464d0f67c6eebb40c9d1",
    "MIT (the Obama and Biden photos are official US-government portraits)",
    _FACE_RECOGNITION_PHOTOS,
)

#: The people as the pairs marked "Yes" in ``tests/unit/dataset/master.csv`` and
#: ``face-recognition-pivot.csv`` group them. Left out: ``img11_reflection.jpg`` (``img11.jpg``
#: padded with its own mirror image), ``couple.jpg`` and ``selfie-many-people.jpg`` (group
#: photos), ``tests/integration/dataset/target.jpg`` (in no pair file).
_DEEPFACE_PHOTOS = (
    ("angelina_jolie", "tests/unit/dataset/img1.jpg", "897c073e8af7c297"),
    ("angelina_jolie", "tests/unit/dataset/img2.jpg", "b43c2b1c32553f6f"),
    ("angelina_jolie", "tests/unit/dataset/img4.jpg", "e768a47e85ff53b6"),
    ("angelina_jolie", "tests/unit/dataset/img5.jpg", "a2d3fba5f4773f49"),
    ("angelina_jolie", "tests/unit/dataset/img6.jpg", "55aa6c46b9ebd87a"),
    ("angelina_jolie", "tests/unit/dataset/img7.jpg", "36530bf4e0135d9f"),
    ("angelina_jolie", "tests/unit/dataset/img10.jpg", "be61f855c9498d35"),
    ("angelina_jolie", "tests/unit/dataset/img11.jpg", "c7973a7bc764f40b"),
    ("elon_musk", "tests/unit/dataset/img18.jpg", "a50a7aec94ae4ad9"),
    ("elon_musk", "tests/unit/dataset/img19.jpg", "121c9b2caf53952e"),
    ("elon_musk", "tests/unit/dataset/img67.jpg", "74206f3d1509ea83"),
    ("george_clooney", "tests/unit/dataset/img38.jpg", "523a9b2f282f271b"),
    ("george_clooney", "tests/unit/dataset/img39.jpg", "069ad58967857cc2"),
    ("george_clooney", "tests/unit/dataset/img40.jpg", "6fed99b8e515a631"),
    ("george_clooney", "tests/unit/dataset/img41.jpg", "8cbe17656785b1cf"),
    ("jack_dorsey", "tests/unit/dataset/img16.jpg", "f38be51222574458"),
    ("jack_dorsey", "tests/unit/dataset/img17.jpg", "73662db96b2d5a45"),
    ("jack_dorsey", "tests/unit/dataset/img59.jpg", "4f763480eb22a185"),
    ("jack_dorsey", "tests/unit/dataset/img61.jpg", "ab90b6170c3717f9"),
    ("jack_dorsey", "tests/unit/dataset/img62.jpg", "deac66b91b39393e"),
    ("jeff_bezos", "tests/unit/dataset/img20.jpg", "1f9eb108651fc5f2"),
    ("jeff_bezos", "tests/unit/dataset/img21.jpg", "06d9079dae415b11"),
    ("jennifer_aniston", "tests/unit/dataset/img3.jpg", "99379580084327f3"),
    ("jennifer_aniston", "tests/unit/dataset/img12.jpg", "f40ad637226eca54"),
    ("jennifer_aniston", "tests/unit/dataset/img53.jpg", "0f7a87b6e50c9784"),
    ("jennifer_aniston", "tests/unit/dataset/img54.jpg", "eba926c903809bcb"),
    ("jennifer_aniston", "tests/unit/dataset/img55.jpg", "c21eabe40bb56c9a"),
    ("jennifer_aniston", "tests/unit/dataset/img56.jpg", "cd8168f16e1fdb6c"),
    ("katy_perry", "tests/unit/dataset/img26.jpg", "ce7e8cac87649026"),
    ("katy_perry", "tests/unit/dataset/img27.jpg", "798999e0a0a6cc26"),
    ("katy_perry", "tests/unit/dataset/img28.jpg", "5a714455912366d6"),
    ("katy_perry", "tests/unit/dataset/img42.jpg", "98e26cfe55a0e434"),
    ("katy_perry", "tests/unit/dataset/img43.jpg", "d57f7d092e219a90"),
    ("katy_perry", "tests/unit/dataset/img44.jpg", "fb8455f1d08242a6"),
    ("katy_perry", "tests/unit/dataset/img45.jpg", "354a9060623e5188"),
    ("katy_perry", "tests/unit/dataset/img46.jpg", "8dbaffbc8def1b4e"),
    ("leonardo_dicaprio", "tests/unit/dataset/img34.jpg", "f3d102fe7d08c51b"),
    ("leonardo_dicaprio", "tests/unit/dataset/img35.jpg", "34f64c009e6c4b15"),
    ("leonardo_dicaprio", "tests/unit/dataset/img36.jpg", "4177a4d66505070d"),
    ("leonardo_dicaprio", "tests/unit/dataset/img37.jpg", "8a2b953c01ab1385"),
    ("marissa_mayer", "tests/unit/dataset/img22.jpg", "8ee7e7b9090daa07"),
    ("marissa_mayer", "tests/unit/dataset/img23.jpg", "cdf08cb1a3cb27c9"),
    ("mark_zuckerberg", "tests/unit/dataset/img13.jpg", "008abcc9464f39cd"),
    ("mark_zuckerberg", "tests/unit/dataset/img14.jpg", "3d648be13e536f7f"),
    ("mark_zuckerberg", "tests/unit/dataset/img15.jpg", "c9f50e3505e50cb8"),
    ("mark_zuckerberg", "tests/unit/dataset/img57.jpg", "17f52a4d10787c75"),
    ("mark_zuckerberg", "tests/unit/dataset/img58.jpg", "e5ff4ee133b86a3f"),
    ("matt_damon", "tests/unit/dataset/img29.jpg", "25926edd3b72f122"),
    ("matt_damon", "tests/unit/dataset/img30.jpg", "88399f082f008097"),
    ("matt_damon", "tests/unit/dataset/img31.jpg", "57967cfcd2cf121a"),
    ("matt_damon", "tests/unit/dataset/img32.jpg", "f5dda7229cad5938"),
    ("matt_damon", "tests/unit/dataset/img33.jpg", "9b9fc57883738357"),
    ("scarlett_johansson", "tests/unit/dataset/img8.jpg", "4af18d79ce7124fd"),
    ("scarlett_johansson", "tests/unit/dataset/img9.jpg", "9bd61146377aec0e"),
    ("scarlett_johansson", "tests/unit/dataset/img47.jpg", "9953c4c352ba6027"),
    ("scarlett_johansson", "tests/unit/dataset/img48.jpg", "e02dfee3f3c05c0e"),
    ("scarlett_johansson", "tests/unit/dataset/img49.jpg", "9fbfd108597f42e7"),
    ("scarlett_johansson", "tests/unit/dataset/img50.jpg", "aba7ca02f2dec292"),
    ("scarlett_johansson", "tests/unit/dataset/img51.jpg", "1a7e9e7a90b5f335"),
    ("sundar_pichai", "tests/unit/dataset/img24.jpg", "80cdb94f1fe473d8"),
    ("sundar_pichai", "tests/unit/dataset/img25.jpg", "1a9bde669f44d985"),
)

DEEPFACE = Source(
    "deepface",
    "https://github.com/serengil/deepface",
    "243209fd7b46ecdecf72665cc25219f6e8181f25",
    "MIT",
    _DEEPFACE_PHOTOS,
)

#: Grey 150x150 face crops, one folder per character of a TV series (named here by actor).
#: Left out: ``bbt1-5.jpg`` (group photos the crops may come from) and the expression photos
#: (one photo each of other people).
_FACE_API_JS_PHOTOS = (
    ("jim_parsons", "examples/images/sheldon/sheldon1.png", "a65431669582d888"),
    ("jim_parsons", "examples/images/sheldon/sheldon2.png", "6321a95c242de773"),
    ("jim_parsons", "examples/images/sheldon/sheldon3.png", "45258b9731a33751"),
    ("jim_parsons", "examples/images/sheldon/sheldon4.png", "58d891d73a3ee63b"),
    ("jim_parsons", "examples/images/sheldon/sheldon5.png", "22099e330609766f"),
    ("johnny_galecki", "examples/images/leonard/leonard1.png", "97933ff3245164ec"),
    ("johnny_galecki", "examples/images/leonard/leonard2.png", "e4d10771c11d1cf1"),
    ("johnny_galecki", "examples/images/leonard/leonard3.png", "bda57664f219f303"),
    ("johnny_galecki", "examples/images/leonard/leonard4.png", "aab130d50dc6ee50"),
    ("johnny_galecki", "examples/images/leonard/leonard5.png", "f47a46cf015c72bc"),
    ("kaley_cuoco", "examples/images/penny/penny1.png", "38068934fc208eee"),
    ("kaley_cuoco", "examples/images/penny/penny2.png", "ef0237ba5842de3d"),
    ("kaley_cuoco", "examples/images/penny/penny3.png", "f236344e6d7acfc6"),
    ("kaley_cuoco", "examples/images/penny/penny4.png", "48ecaca1bdba62f8"),
    ("kaley_cuoco", "examples/images/penny/penny5.png", "c7a15ecebc0c4326"),
    ("kevin_sussman", "examples/images/stuart/stuart1.png", "12cbb1dc373afa61"),
    ("kevin_sussman", "examples/images/stuart/stuart2.png", "2ec8df6c295c8e5c"),
    ("kevin_sussman", "examples/images/stuart/stuart3.png", "500208a8350543a0"),
    ("kevin_sussman", "examples/images/stuart/stuart4.png", "e3ba8b9b4a748ea1"),
    ("kevin_sussman", "examples/images/stuart/stuart5.png", "381340eb567229d8"),
    ("kunal_nayyar", "examples/images/raj/raj1.png", "71949f6a71777a6d"),
    ("kunal_nayyar", "examples/images/raj/raj2.png", "9752571453e51372"),
    ("kunal_nayyar", "examples/images/raj/raj3.png", "216428c9387c8e0e"),
    ("kunal_nayyar", "examples/images/raj/raj4.png", "a43ae9e71b933857"),
    ("kunal_nayyar", "examples/images/raj/raj5.png", "4863a97836c34c21"),
    ("mayim_bialik", "examples/images/amy/amy1.png", "a1649b290794c11f"),
    ("mayim_bialik", "examples/images/amy/amy2.png", "ff21d25b38fd6534"),
    ("mayim_bialik", "examples/images/amy/amy3.png", "23204a35fde32c1f"),
    ("mayim_bialik", "examples/images/amy/amy4.png", "27ab8be3f7619960"),
    ("mayim_bialik", "examples/images/amy/amy5.png", "870bf2d96033da3b"),
    ("melissa_rauch", "examples/images/bernadette/bernadette1.png", "2661169d2a097cd3"),
    ("melissa_rauch", "examples/images/bernadette/bernadette2.png", "478647b8446eac20"),
    ("melissa_rauch", "examples/images/bernadette/bernadette3.png", "e301d31c35f86205"),
    ("melissa_rauch", "examples/images/bernadette/bernadette4.png", "700ef705d01d656d"),
    ("melissa_rauch", "examples/images/bernadette/bernadette5.png", "1d9fdc23ef125d39"),
    ("simon_helberg", "examples/images/howard/howard1.png", "cb27546bc0139f8b"),
    ("simon_helberg", "examples/images/howard/howard2.png", "2747993ab0790e58"),
    ("simon_helberg", "examples/images/howard/howard3.png", "a370e3cf9d4a5ce9"),
    ("simon_helberg", "examples/images/howard/howard4.png", "c0cc556d137f66c7"),
    ("simon_helberg", "examples/images/howard/howard5.png", "3cc3d88e97f13375"),
)

FACE_API_JS = Source(
    "face-api.js",
    "https://github.com/justadudewhohacks/face-api.js",
    "a86f011d72124e5fb93e59d5c4ab98f699dd5c9c",
    "MIT",
    _FACE_API_JS_PHOTOS,
)

#: Left out: ``images/examples-aligned`` (crops of these photos), ``adams.jpg`` and
#: ``carell.jpg`` (one photo each), ``longoria-cooper.jpg`` (two people).
_OPENFACE_PHOTOS = (
    ("eric_clapton", "images/examples/clapton-1.jpg", "8697b865a6e09832"),
    ("eric_clapton", "images/examples/clapton-2.jpg", "131c780255de070f"),
    ("john_lennon", "images/examples/lennon-1.jpg", "e5cbc4f900436433"),
    ("john_lennon", "images/examples/lennon-2.jpg", "d8c6c3e079563dbf"),
)

OPENFACE = Source(
    "openface",
    "https://github.com/cmusatyalab/openface",
    "051475225b5ae335918621077313085bbb7ab5a0",
    "Apache-2.0",
    _OPENFACE_PHOTOS,
)

SOURCES: tuple[Source, ...] = (FACE_RECOGNITION, DEEPFACE, FACE_API_JS, OPENFACE)


def _git_dir(repo: Path) -> Path:
    return repo / ".git" if (repo / ".git").exists() else repo


def _git(repo: Path, *args: str) -> bytes | None:
    """The output of a git command on ``repo`` (a clone or a bare mirror), else None."""
    try:
        return subprocess.run(
            ["git", f"--git-dir={_git_dir(repo)}", *args], check=True, capture_output=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def _read(repo: Path, source: Source, path: str) -> bytes:
    """A file of the pinned commit: from git (a clone or a bare mirror), else the work tree
    (a shallow clone of a later commit, whose files the sha256 check then vouches for)."""
    data = _git(repo, "show", f"{source.commit}:{path}")
    if data is not None:
        return data
    try:
        return (repo / path).read_bytes()
    except OSError as e:
        raise ValueError(
            f"{source.name}: {path} is neither in commit {source.commit[:12]} of {repo} nor "
            "in its work tree"
        ) from e


def _holds(repo: Path, source: Source) -> bool:
    """True when ``repo`` is a clone of ``source``: it has the pinned commit, or (a shallow
    clone of a later one) every photo's path in its work tree."""
    if _git(repo, "cat-file", "-e", f"{source.commit}^{{commit}}") is not None:
        return True
    return all((repo / path).is_file() for _, path, _ in source.photos)


def match_sources(repos: Iterable[Path], sources: Sequence[Source] = SOURCES) -> dict[str, Path]:
    """Which of ``repos`` is the clone of each source (by name); a clone of no source, or a
    source without a clone, is refused with the ``git clone`` lines to run."""
    found: dict[str, Path] = {}
    for repo in repos:
        names = [s.name for s in sources if s.name not in found and _holds(repo, s)]
        if not names:
            raise ValueError(
                f"{repo} is a clone of none of the sources "
                f"({', '.join(s.url for s in sources)}) or of one given twice"
            )
        found[names[0]] = repo
    missing = [s for s in sources if s.name not in found]
    if missing:
        lines = "\n".join(f"    {s.clone_line()}" for s in missing)
        raise ValueError(f"no clone given of {', '.join(s.name for s in missing)}; run\n{lines}")
    return found


def target_of(out: Path, source: Source, person: str, path: str) -> Path:
    """Where the photo ``path`` of ``source`` is written: ``out/<person>/<source>-<name>``."""
    return out / person / f"{source.name}-{Path(path).name}"


def rebuild(
    repos: Path | Sequence[Path], out: Path, sources: Sequence[Source] = SOURCES
) -> list[Path]:
    """Write the set into ``out/<person>/<source>-<file>`` from clones of all ``sources`` (in
    any order); every file's sha256 is checked before anything is written. Files already in
    ``out`` that are not of the set are refused (a stale set would mix into the check)."""
    clones = match_sources([repos] if isinstance(repos, Path) else repos, sources)
    files: dict[Path, bytes] = {}
    for source in sources:
        for person, path, digest in source.photos:
            data = _read(clones[source.name], source, path)
            actual = hashlib.sha256(data).hexdigest()
            if actual[:16] != digest:
                raise ValueError(
                    f"{source.name}: {path} is not the file of commit {source.commit[:12]} "
                    f"(sha256 differs: {actual[:16]}, pinned {digest})"
                )
            target = target_of(out, source, person, path)
            if target in files:
                raise ValueError(f"two photos of the set would both be written to {target}")
            files[target] = data
    stale = sorted(set(list_images(out)) - set(files)) if out.is_dir() else []
    if stale:
        raise ValueError(
            f"{out} holds {len(stale)} files that are not of the set (e.g. {stale[0]}); "
            "rebuild into an empty folder"
        )
    for target, data in files.items():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return list(files)


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
    for name in method_names or DEFAULT_METHODS:
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
    """``python -m hashwall.eval.sameperson REPO [REPO ...] OUT``: rebuild the set into OUT
    from clones of all the sources (in any order)."""
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        written = rebuild([Path(a) for a in argv[:-1]], Path(argv[-1]), SOURCES)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {len(written)} photos of {len({person_of(p) for p in written})} people")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))

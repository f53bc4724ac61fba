"""The same-person set is rebuilt from pinned clones, and the check counts every match
between different photos, by person."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from eval_images import textured

from hashwall.eval import sameperson
from hashwall.eval.runner import list_images
from hashwall.eval.sameperson import SOURCES, Source, check_same_person, person_of, rebuild


def test_a_near_copy_under_the_same_person_is_a_same_person_false_match(tmp_path: Path) -> None:
    for person, seeds in (("ann", (1, 2)), ("bob", (3,))):
        (tmp_path / person).mkdir()
        for s in seeds:
            textured(s).save(tmp_path / person / f"{s}.jpg", quality=92)
    # "Another photo" of ann that is in fact photo 1 re-encoded: every method must match it.
    textured(1).save(tmp_path / "ann" / "1b.jpg", quality=60)
    result = check_same_person(tmp_path)
    assert result["photos"] == 4 and result["people"] == 2
    for name, m in result["methods"].items():
        assert m["pairs"] == 4 * 5 * 3
        assert m["same_person_false_matches"] >= 2, name  # 1 ~ 1b and 1b ~ 1, plain
        assert m["false_matches"] == m["same_person_false_matches"]
        assert m["closest_same_person"] < 10 and m["closest_other_person"] > 31


# --- the pinned table ------------------------------------------------------------------------


def test_the_table_pins_every_photo_once_and_every_person_has_other_photos() -> None:
    assert len({s.name for s in SOURCES}) == len(SOURCES)
    targets = [
        sameperson.target_of(Path("out"), s, person, path)
        for s in SOURCES
        for person, path, _ in s.photos
    ]
    assert len(targets) == 119 and len(set(targets)) == len(targets)
    per_person = Counter(person_of(t) for t in targets)
    assert len(per_person) == 28 and min(per_person.values()) >= 2
    for source in SOURCES:
        assert re.fullmatch(r"[0-9a-f]{40}", source.commit), source.name
        assert source.licence and source.url.startswith("https://github.com/")
        digests = [digest for _, _, digest in source.photos]
        assert all(re.fullmatch(r"[0-9a-f]{16}", d) for d in digests), source.name
        assert len(set(digests)) == len(digests), source.name  # no file pinned twice
        assert all(
            Path(path).suffix.lower() in {".jpg", ".jpeg", ".png"} for _, path, _ in source.photos
        )
    # A person is in one source only: the same name in two would merge two people's folders.
    people = [{person for person, _, _ in s.photos} for s in SOURCES]
    assert sum(len(p) for p in people) == len(set().union(*people))


def test_rebuild_refuses_files_that_are_not_the_pinned_ones(tmp_path: Path) -> None:
    repos = []
    for source in SOURCES:  # work trees (no git) with every path, holding the wrong bytes
        repo = tmp_path / source.name
        for _, path, _ in source.photos:
            (repo / path).parent.mkdir(parents=True, exist_ok=True)
            (repo / path).write_bytes(b"not the photo")
        repos.append(repo)
    with pytest.raises(ValueError, match="sha256 differs"):
        rebuild(repos, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- rebuilding from fake repositories -------------------------------------------------------


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    textured(seed).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    textured(seed, (96, 96)).save(buf, "PNG")
    return buf.getvalue()


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def _fake_source(
    root: Path, name: str, files: dict[str, tuple[str, bytes]], git: bool = True
) -> tuple[Source, Path]:
    """A repository at ``root/name`` holding ``files`` (path: (person, bytes)), committed when
    ``git``, and the :class:`Source` pinning it."""
    repo = root / name
    for path, (_, data) in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    commit = "0" * 40
    if git:
        _git(repo, "init", "-q")
        _git(repo, "add", ".")
        _git(repo, "commit", "-q", "-m", "photos")
        commit = _git(repo, "rev-parse", "HEAD")
    photos = tuple(
        (person, path, hashlib.sha256(data).hexdigest()[:16])
        for path, (person, data) in files.items()
    )
    return Source(name, f"https://github.com/example/{name}", commit, "MIT", photos), repo


@pytest.fixture
def fakes(tmp_path: Path) -> tuple[list[Source], list[Path]]:
    if shutil.which("git") is None:
        pytest.skip("needs git")
    a, repo_a = _fake_source(
        tmp_path,
        "alpha",
        {
            "tests/dataset/img1.jpg": ("ann", _jpeg(1)),
            "tests/dataset/img2.jpg": ("ann", _jpeg(2)),
            "examples/bob/bob1.png": ("bob", _png(3)),
            "examples/bob/bob2.png": ("bob", _png(4)),
        },
    )
    b, repo_b = _fake_source(
        tmp_path,
        "beta",
        {
            "images/img1.jpg": ("cat", _jpeg(5)),  # the same file name as alpha's, another person
            "images/cat-2.jpg": ("cat", _jpeg(6)),
        },
    )
    return [a, b], [repo_a, repo_b]


def test_rebuild_writes_every_photo_of_every_source_under_its_person(
    tmp_path: Path, fakes: tuple[list[Source], list[Path]]
) -> None:
    sources, repos = fakes
    out = tmp_path / "out"
    # The clones in any order; after the commit, the work trees no longer hold the photos.
    for repo in repos:
        for p in list(repo.rglob("*.jpg")) + list(repo.rglob("*.png")):
            p.write_bytes(b"changed since")
    written = rebuild(list(reversed(repos)), out, sources)
    assert sorted(written) == list_images(out)
    assert sorted(str(p.relative_to(out)) for p in written) == [
        "ann/alpha-img1.jpg",
        "ann/alpha-img2.jpg",
        "bob/alpha-bob1.png",
        "bob/alpha-bob2.png",
        "cat/beta-cat-2.jpg",
        "cat/beta-img1.jpg",
    ]
    assert (out / "ann" / "alpha-img1.jpg").read_bytes() == _jpeg(1)
    assert (out / "bob" / "alpha-bob2.png").read_bytes() == _png(4)
    assert (out / "cat" / "beta-img1.jpg").read_bytes() == _jpeg(5)
    # Rebuilding into the same folder again writes the same set.
    assert sorted(rebuild(repos, out, sources)) == sorted(written)
    result = check_same_person(out, method_names=["pdq"])
    assert result["photos"] == 6 and result["people"] == 3


def test_rebuild_reads_a_work_tree_without_git(tmp_path: Path) -> None:
    source, repo = _fake_source(
        tmp_path, "plain", {"a/x.jpg": ("ann", _jpeg(1)), "b/y.jpg": ("ann", _jpeg(2))}, git=False
    )
    written = rebuild(repo, tmp_path / "out", [source])
    assert [p.read_bytes() for p in written] == [_jpeg(1), _jpeg(2)]
    assert {person_of(p) for p in written} == {"ann"}


def test_rebuild_refuses_a_committed_file_that_is_not_the_pinned_one(
    tmp_path: Path, fakes: tuple[list[Source], list[Path]]
) -> None:
    sources, repos = fakes
    person, path, _ = sources[1].photos[1]
    other = hashlib.sha256(_jpeg(99)).hexdigest()[:16]
    wrong = Source(
        sources[1].name,
        sources[1].url,
        sources[1].commit,
        sources[1].licence,
        (sources[1].photos[0], (person, path, other)),
    )
    with pytest.raises(
        ValueError, match=rf"beta: {path} is not the file of commit .*sha256 differs"
    ):
        rebuild(repos, tmp_path / "out", [sources[0], wrong])
    assert not (tmp_path / "out").exists()  # nothing written: every file is checked first


def test_rebuild_names_the_clones_that_are_missing(
    tmp_path: Path, fakes: tuple[list[Source], list[Path]]
) -> None:
    sources, repos = fakes
    with pytest.raises(ValueError, match="no clone given of beta") as refused:
        rebuild(repos[:1], tmp_path / "out", sources)
    assert "git clone https://github.com/example/beta /tmp/beta" in str(refused.value)
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    with pytest.raises(ValueError, match="stranger is a clone of none of the sources"):
        rebuild([*repos, stranger], tmp_path / "out", sources)


def test_rebuild_refuses_a_folder_holding_other_photos(
    tmp_path: Path, fakes: tuple[list[Source], list[Path]]
) -> None:
    sources, repos = fakes
    out = tmp_path / "out"
    (out / "ann").mkdir(parents=True)
    (out / "ann" / "img1.jpg").write_bytes(_jpeg(7))  # a photo of an older set
    with pytest.raises(ValueError, match="1 files that are not of the set"):
        rebuild(repos, out, sources)
    assert list_images(out) == [out / "ann" / "img1.jpg"]


def test_the_command_takes_the_clones_then_the_folder(
    tmp_path: Path,
    fakes: tuple[list[Source], list[Path]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sources, repos = fakes
    monkeypatch.setattr(sameperson, "SOURCES", tuple(sources))
    out = tmp_path / "out"
    assert sameperson.main([*map(str, repos), str(out)]) == 0
    assert "wrote 6 photos of 3 people" in capsys.readouterr().out
    assert sameperson.main([str(repos[0]), str(tmp_path / "out2")]) == 1
    assert "no clone given of beta" in capsys.readouterr().err
    assert sameperson.main([str(out)]) == 2

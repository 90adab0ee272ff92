"""The suite's schedule (tests/conftest.py): the longest files, named by path, start first."""

import pathlib

from conftest import LONGEST_TEST_FILES, REPO


def test_every_longest_file_exists_once():
    """A renamed or removed file would silently drop back to the end of the schedule."""
    assert len(set(LONGEST_TEST_FILES)) == len(LONGEST_TEST_FILES)
    missing = [path for path in LONGEST_TEST_FILES if not (REPO / path).is_file()]
    assert not missing, f"tests/conftest.py LONGEST_TEST_FILES names files that do not exist: {missing}"


def test_collection_starts_with_the_longest_files(request):
    collected = list(dict.fromkeys(item.nodeid.split("::")[0] for item in request.session.items))
    listed = [path for path in collected if path in LONGEST_TEST_FILES]
    assert collected[: len(listed)] == listed  # every listed file collected comes before every other file
    assert listed == [path for path in LONGEST_TEST_FILES if path in listed]  # and in the listed order
    assert pathlib.Path(__file__).relative_to(REPO).as_posix() in collected

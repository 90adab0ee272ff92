"""The NLU and audio trainers' shared out-of-scope flags (`examples/calibration_flags.py`) refuse bad
values while absl parses them, before a trainer reads data: checked here once, in a process that imports
only that module (a second each); each trainer's test checks that it uses them."""

import subprocess
import sys

import pytest

from example_runner import REPO

PARSE = "import sys; sys.path.insert(0, 'examples'); import calibration_flags; from absl import flags; flags.FLAGS(sys.argv)"


def parse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PARSE, *args], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize("flag, message", [
    ("--reject_rate=1.5", "--reject_rate must be in [0, 1)"),
    ("--reject_rate=-0.1", "--reject_rate must be in [0, 1)"),
    ("--score=foo", "--score"),
    ("--oos_label= ", "--oos_label must be a non-empty label"),
])  # fmt: skip
def test_bad_value_is_refused_with_the_flag_named(flag, message):
    process = parse(flag)
    assert process.returncode != 0 and message in process.stderr, process.stderr[-2000:]
    assert "tensorflow" not in process.stderr.lower()  # refused by absl, before anything heavy


def test_good_values_parse():
    process = parse("--reject_rate=0", "--score=energy", "--oos_label=oos", "--nocalibrate")
    assert process.returncode == 0, process.stderr[-2000:]

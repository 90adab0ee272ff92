"""The suite's trainer runner: a child forked from the pre-imported server behaves as `python examples/<script>`."""

import signal
import subprocess
import sys
import time

import pytest

from example_runner import REPO, ForkedRun, child_env, run_example, run_forked, start_script

SCRIPT = REPO / "examples" / "train_intent.py"


def fresh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=child_env(),
                          cwd=REPO, timeout=300)  # fmt: skip


@pytest.mark.parametrize("args", [("--quantization=int4",), ("--no_such_flag",), ("--help",)])
def test_forked_run_exits_and_prints_as_a_fresh_interpreter(args):
    forked, started = run_forked(SCRIPT, list(args), timeout=300), fresh(*args)
    assert forked.returncode == started.returncode
    assert forked.stdout == started.stdout
    assert forked.stderr.strip().splitlines()[-1:] == started.stderr.strip().splitlines()[-1:]


def test_forked_run_sees_its_own_argv_folder_and_environment(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys\n"
        "print(sys.argv[1:], sys.path[0], os.getcwd(), os.environ['TF_CPP_MIN_LOG_LEVEL'], len(os.listdir('/proc/self/task')))\n"
        "import tensorflow as tf\n"
        "print(float(tf.reduce_sum(tf.ones([3]))))\n"
        "sys.exit(3)\n"
    )
    done = run_forked(probe, ["--a=1", "b c"], timeout=120)
    assert done.returncode == 3, done.stderr
    first, second = done.stdout.splitlines()
    assert first == f"['--a=1', 'b c'] {tmp_path} {REPO} 2 1"  # one OS thread: the server's idle helpers are not copied
    assert second == "3.0"  # TensorFlow runs in the child


def test_a_failing_trainer_fails_the_test_with_its_output():
    with pytest.raises(AssertionError, match="quantization must be one of"):
        run_example("train_intent.py", "--quantization=int4")


def test_a_started_run_can_be_polled_and_stopped_with_ctrl_c(tmp_path):
    """As from a shell: Ctrl-C raises KeyboardInterrupt in the child (the server ignores it, as the
    pytest-xdist worker that started it does), and the status and output come back as from Popen."""
    probe = tmp_path / "probe.py"
    probe.write_text("import pathlib, sys, time\nprint('started', flush=True)\npathlib.Path(sys.argv[1]).touch()\n"
                     "time.sleep(60)\n")  # fmt: skip
    ready = tmp_path / "ready"
    run = ForkedRun(probe, [str(ready)])
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    run.send_signal(signal.SIGINT)
    assert run.wait(timeout=30) == 1
    out, err = run.communicate()
    assert out == "started\n" and err.rstrip().endswith("KeyboardInterrupt")


def test_started_scripts_run_at_once_each_with_its_environment_and_log(tmp_path):
    """As the multi-worker tests start a cluster: two children run together (the first waits for the second's
    file), each with exactly its environment (TMPDIR too: `tempfile` chooses again) and both streams in its log."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, pathlib, sys, tempfile, time\n"
        "print(os.environ['ROLE'], tempfile.gettempdir(), 'HOME' in os.environ, flush=True)\n"
        "mine, other = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])\n"
        "mine.touch()\n"
        "while not other.exists():\n"
        "    time.sleep(0.02)\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(int(sys.argv[3]))\n"
    )  # fmt: skip
    runs = []
    for role, code in (("first", 0), ("second", 4)):
        folder = tmp_path / role
        folder.mkdir()
        env = {"ROLE": role, "TMPDIR": str(folder), "PATH": "/usr/bin:/bin"}
        args = [str(tmp_path / f"{role}.ready"), str(tmp_path / f"{'second' if role == 'first' else 'first'}.ready"), str(code)]
        runs.append(start_script(probe, args, env, tmp_path / f"{role}.log"))
        assert (tmp_path / f"{role}.log").exists()  # there at once, as Popen(stdout=log.open("w")) makes it
    assert [run.wait(timeout=60) for run in runs[::-1]] == [4, 0]  # the second's end is read first
    for run, role in zip(runs, ("first", "second")):
        assert run.poll() == run.returncode
        assert (tmp_path / f"{role}.log").read_text() == f"{role} {tmp_path / role} False\nto stderr\n"

"""Runs an `examples/` trainer as a user would, `python examples/<script> <args>` from the repository root,
and returns its exit status and output (shown in full in any failure).

Each run is a child forked from a server that has imported TensorFlow, Keras, keras-hub and voice_ft
once (`fork_server.py`, one per pytest worker), instead of a fresh interpreter that spends ~7 s importing
them: the suite runs ~60 trainers on 2 cores. The child runs the script as `__main__` with its own argv,
working directory, environment and output, as the interpreter would (only `--helpfull` differs: it also
lists the absl flags of the modules the server preloaded). `VOICE_FT_TEST_FRESH_INTERPRETER=1`
starts a fresh interpreter per run instead. `start_example` and `start_script` start a run and return at
once, with a `subprocess.Popen`-like handle (the killed-run tests signal it mid-run; the multi-worker tests
start a cluster's processes together, each with its own environment and log).
"""

import atexit
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVER = pathlib.Path(__file__).with_name("fork_server.py")
_server: subprocess.Popen | None = None
_pending = bytearray()  # what the server wrote past the last reply read
_ended: dict[int, int] = {}  # pid -> exit status, of children whose end was read and not yet taken


def child_env() -> dict:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def run_example(script: str, *args: str, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """`python examples/<script> <args>` from the repository root; with `check`, a non-zero exit fails the test."""
    process = run_script(REPO / "examples" / script, list(args), timeout)
    if check and process.returncode != 0:
        raise AssertionError(f"{script} failed:\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}")
    return process


def run_script(path: pathlib.Path, args: list[str], timeout: int) -> subprocess.CompletedProcess:
    """`python <path> <args>` from the repository root, forked from the server unless a fresh interpreter is asked for."""
    if fresh_interpreter():
        return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True, env=child_env(),
                              cwd=REPO, timeout=timeout)  # fmt: skip
    return run_forked(path, args, timeout)


def server() -> subprocess.Popen:
    """This worker's fork server, started on first use (and again if it died)."""
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, str(SERVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   env=child_env(), cwd=REPO, bufsize=0)  # fmt: skip
        _pending.clear()
        _ended.clear()
        atexit.register(_server.kill)
    return _server


def read_reply(process: subprocess.Popen, deadline_s: float | None) -> dict | None:
    """The server's next reply, or None if none came within `deadline_s` seconds."""
    deadline = None if deadline_s is None else time.monotonic() + deadline_s
    while b"\n" not in _pending:
        if deadline is not None:
            ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
            if not ready:
                return None
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            raise RuntimeError(f"{SERVER.name} ended (exit status {process.wait()}); its stderr is in the test log")
        _pending.extend(chunk)
    line, _, rest = bytes(_pending).partition(b"\n")
    _pending[:] = rest
    reply = json.loads(line)
    if "ended" in reply:
        _ended[reply["ended"]] = reply["returncode"]
    return reply


class ForkedRun:
    """A script forked from the server and maybe still running, with what a test uses of `subprocess.Popen`:
    `pid`, `returncode`, `poll()`, `wait(timeout)`, `send_signal(sig)`, `kill()`, `communicate()`.

    Its output goes to files: by default two of its own, which `communicate()` returns; with `output`, both
    streams go to that one file (a log the test reads), as `stdout=log, stderr=subprocess.STDOUT`.
    """

    def __init__(self, path: pathlib.Path, args: list[str], env: dict | None = None, cwd: pathlib.Path = REPO,
                 output: pathlib.Path | None = None):  # fmt: skip
        self.args = [sys.executable, str(path), *args]
        self._server = server()
        self._folder = None if output is not None else tempfile.mkdtemp(prefix="example-run-")
        if output is not None:  # there when this returns, as with Popen(stdout=log.open("w"))
            pathlib.Path(output).write_bytes(b"")
            self._out = self._err = str(output)
        else:
            self._out, self._err = os.path.join(self._folder, "stdout"), os.path.join(self._folder, "stderr")
        request = {"script": str(path), "args": args, "cwd": str(cwd), "env": child_env() if env is None else env,
                   "stdout": self._out, "stderr": self._err}  # fmt: skip
        self._server.stdin.write((json.dumps(request) + "\n").encode())
        self._server.stdin.flush()
        while "started" not in (reply := read_reply(self._server, None)):  # others may end meanwhile
            pass
        self.pid = reply["started"]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            while self.pid not in _ended and read_reply(self._server, 0) is not None:
                pass
            self.returncode = _ended.pop(self.pid, None)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if (left is not None and left <= 0) or read_reply(self._server, left) is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self) -> tuple[str, str]:
        """Waits for the end; (stdout, stderr), as text. Its own output files are removed."""
        self.wait()
        try:
            return (pathlib.Path(self._out).read_text(errors="replace"),
                    pathlib.Path(self._err).read_text(errors="replace"))  # fmt: skip
        finally:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)


def fresh_interpreter() -> bool:
    return os.environ.get("VOICE_FT_TEST_FRESH_INTERPRETER") == "1" or not hasattr(os, "fork")


def start_example(script: str, *args: str) -> ForkedRun | subprocess.Popen:
    """Starts `python examples/<script> <args>` and returns without waiting for it (Ctrl-C at its default)."""
    path = REPO / "examples" / script
    if fresh_interpreter():
        return subprocess.Popen([sys.executable, str(path), *args], cwd=REPO, env=child_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    return ForkedRun(path, list(args))


def start_script(path: pathlib.Path, args: list[str], env: dict, log: pathlib.Path) -> ForkedRun | subprocess.Popen:
    """Starts `python <path> <args>` with exactly `env`, both output streams into `log`, and returns at once."""
    if fresh_interpreter():
        return subprocess.Popen([sys.executable, str(path), *args], env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT)  # fmt: skip
    return ForkedRun(path, list(args), env=env, output=log)


def run_forked(path: pathlib.Path, args: list[str], timeout: int) -> subprocess.CompletedProcess:
    run = ForkedRun(path, args)
    try:
        run.wait(timeout)
    except subprocess.TimeoutExpired:
        run.kill()
        run.wait()
        out, err = run.communicate()
        raise subprocess.TimeoutExpired(run.args, timeout, out, err) from None
    out, err = run.communicate()
    return subprocess.CompletedProcess(run.args, run.returncode, out, err)

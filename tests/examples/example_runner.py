"""Runs an `examples/` trainer as a user would, `python examples/<script> <args>` from the repository root,
and returns its exit status and output (shown in full in any failure).

Each run is a child forked from a server that has imported TensorFlow, Keras, keras-hub and voice_ft
once (`fork_server.py`, one per pytest worker), instead of a fresh interpreter that spends ~7 s importing
them: the suite runs ~60 trainers on 2 cores. The child runs the script as `__main__` with its own argv,
working directory, environment and output, as the interpreter would (only `--helpfull` differs: it also
lists the absl flags of the modules the server preloaded). `VOICE_FT_TEST_FRESH_INTERPRETER=1`
starts a fresh interpreter per run instead (what the killed-run and multi-worker tests always do, since
they send signals to, or start, several real processes).
"""

import atexit
import json
import os
import pathlib
import select
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
SERVER = pathlib.Path(__file__).with_name("fork_server.py")
_server: subprocess.Popen | None = None
_pending = bytearray()  # what the server wrote past the last reply read


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
    if os.environ.get("VOICE_FT_TEST_FRESH_INTERPRETER") == "1" or not hasattr(os, "fork"):
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
    return json.loads(line)


def run_forked(path: pathlib.Path, args: list[str], timeout: int) -> subprocess.CompletedProcess:
    process = server()
    with tempfile.TemporaryDirectory(prefix="example-run-") as folder:
        out, err = os.path.join(folder, "stdout"), os.path.join(folder, "stderr")
        request = {"script": str(path), "args": args, "cwd": str(REPO), "env": child_env(), "stdout": out, "stderr": err}
        process.stdin.write((json.dumps(request) + "\n").encode())
        process.stdin.flush()
        pid = read_reply(process, None)["pid"]
        reply = read_reply(process, timeout)
        if reply is None:
            os.kill(pid, signal.SIGKILL)
            read_reply(process, None)
            raise subprocess.TimeoutExpired([str(path), *args], timeout, pathlib.Path(out).read_text(errors="replace"),
                                            pathlib.Path(err).read_text(errors="replace"))  # fmt: skip
        return subprocess.CompletedProcess([sys.executable, str(path), *args], reply["returncode"],
                                           pathlib.Path(out).read_text(errors="replace"),
                                           pathlib.Path(err).read_text(errors="replace"))  # fmt: skip

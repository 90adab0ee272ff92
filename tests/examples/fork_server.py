"""A process that imports TensorFlow, Keras, keras-hub and voice_ft once, then forks one child per trainer run.

Started by `example_runner.run_example` (one per pytest worker); not a test. Each trainer started as
`python examples/<script>` spends ~7 s of a 2-core CPU importing those libraries before it reads a flag,
and the suite runs ~60 trainers. A forked child starts with them imported (copy-on-write) and then runs the
script exactly as the interpreter would: as `__main__`, with its own `sys.argv`, `sys.path[0]` (the
script's folder), working directory, environment, and file descriptors 0, 1 and 2.

Fork safety: importing these libraries runs no TensorFlow op, so no runtime thread pool exists when the
server forks (the server has the main thread plus the two idle helper threads the imports start; a child
has only the main thread). `tests/examples/test_example_runner.py` checks a forked trainer against one
started by a fresh interpreter.

Ctrl-C: a child gets Python's own SIGINT handler (KeyboardInterrupt), as an interpreter started from a
shell does; the server itself inherits the pytest-xdist worker's "ignore SIGINT", which a child would
otherwise keep (the killed-run tests send it Ctrl-C).

Protocol (one JSON object a line): the client writes `{"script", "args", "cwd", "env", "stdout", "stderr"}`
(`stdout` and `stderr` may name one file: both then go to it, as `stderr=subprocess.STDOUT`); the server answers
`{"started": pid}` when the child starts and `{"ended": pid, "returncode": ...}` when it ends (negative: the
signal that killed it, as `subprocess` reports it). Several children may run at once (the multi-worker tests
start a cluster's processes together); each `ended` reply names its child.
"""

import atexit
import importlib
import json
import os
import runpy
import select
import signal
import sys
import tempfile
import traceback


def preload() -> None:
    """Imports what every trainer imports: the libraries, and each module of voice_ft's public API."""
    for module in ("tensorflow", "keras", "keras_hub"):
        importlib.import_module(module)
    import voice_ft

    for module in sorted(set(voice_ft._EXPORTS.values())):
        importlib.import_module(module)


def exit_code(exit: SystemExit) -> int:
    """The status the interpreter would exit with for `exit` (None -> 0, a message -> 1 after printing it)."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code & 0xFF
    print(exit.code, file=sys.stderr)
    return 1


def run_child(request: dict) -> None:
    """In the forked child: become `python <script> <args>` and exit with its status. Never returns."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        tempfile.tempdir = None  # chosen again from this environment's TMPDIR, as a fresh interpreter would
        stdin = os.open(os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        opened = {}
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            if path not in opened:  # one file for both: opened once, so they share its offset
                opened[path] = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(opened[path], fd)
        for target in opened.values():
            os.close(target)
        script = os.path.abspath(request["script"])
        sys.argv = [script, *request["args"]]
        sys.path[0] = os.path.dirname(script)
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit:
            code = exit_code(exit)
        except BaseException:  # what the interpreter prints for an uncaught exception, and its status
            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()  # what a normal interpreter exit runs (log flushes, writers' close)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        os._exit(code)


def serve() -> None:
    """Forks a child per request line on stdin and reports each child's start and end, until stdin closes
    and every child has ended."""
    reply = os.fdopen(os.dup(1), "w", buffering=1)  # the protocol's channel, apart from what children write
    pending, children, reading = b"", set(), True
    while reading or children:
        if reading and select.select([0], [], [], 0.05)[0]:
            chunk = os.read(0, 65536)
            reading = bool(chunk)
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    run_child(json.loads(line))
                children.add(pid)
                reply.write(json.dumps({"started": pid}) + "\n")
        elif not reading:
            select.select([], [], [], 0.05)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            children.discard(pid)
            reply.write(json.dumps({"ended": pid, "returncode": os.waitstatus_to_exitcode(status)}) + "\n")


if __name__ == "__main__":
    preload()
    serve()

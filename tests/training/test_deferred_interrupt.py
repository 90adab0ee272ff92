"""Ctrl-C during fit is recorded and raised at a batch end (never lost inside a finaliser)."""

import os
import signal
import threading

import pytest

from voice_ft.training.callbacks import RaiseOnInterrupt
from voice_ft.training.interrupt import deferred_interrupt


@pytest.fixture(autouse=True)
def ctrl_c_interrupts():
    """Python's own SIGINT handler for each test (pytest-xdist workers ignore SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_sigint_is_held_until_a_batch_end_then_raised():
    callback = None
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt() as pending:
            callback = RaiseOnInterrupt(pending)
            callback.on_train_batch_end(0)  # nothing pending: no-op
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends
            assert pending.is_set()  # recorded, not raised in whatever code ran next
            callback.on_train_batch_end(1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_pending_interrupt_is_raised_when_the_block_ends_and_a_second_one_at_once():
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt():
            os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupt() as pending:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)  # the user insists: raised here
    assert pending.is_set()


def test_outside_the_main_thread_the_handler_is_left_alone():
    seen = {}

    def run():
        with deferred_interrupt() as pending:
            seen["handler"] = signal.getsignal(signal.SIGINT)
            seen["pending"] = pending.is_set()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen == {"handler": signal.default_int_handler, "pending": False}


def test_a_process_that_ignores_ctrl_c_keeps_ignoring_it():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with deferred_interrupt() as pending:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)
    assert not pending.is_set()

"""The watchdog that bounds whole requests: fires what is due, never what was cancelled."""

from __future__ import annotations

import threading

from exconf.transport.watchdog import Watchdog


def test_a_due_deadline_fires_and_a_cancelled_one_does_not():
    dog = Watchdog()
    fired = threading.Event()
    cancelled_ran = threading.Event()
    try:
        keep = dog.arm(0.05, fired.set)
        drop = dog.arm(0.01, cancelled_ran.set)
        drop.cancel()
        assert fired.wait(5)
        assert keep.expired and not drop.expired
        assert not cancelled_ran.is_set()
    finally:
        dog.close()


def test_after_close_arming_again_starts_a_new_thread():
    dog = Watchdog()
    first, second = threading.Event(), threading.Event()
    dog.arm(0.01, first.set)
    assert first.wait(5)
    dog.close()
    dog.arm(0.01, second.set)
    assert second.wait(5)
    dog.close()


def test_a_failing_callback_does_not_stop_the_others():
    dog = Watchdog()
    later = threading.Event()
    try:
        dog.arm(0.01, lambda: 1 / 0)
        dog.arm(0.05, later.set)
        assert later.wait(5)
    finally:
        dog.close()

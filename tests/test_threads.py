"""The one mechanism for parallelism of the Numba backend (kernels/_threads.py): slices of the
tasks, one per thread; who computes what, and which calls are shared (no speed is asserted)."""

import threading
import time

import numpy as np
import pytest

pytest.importorskip("numba")

from minideeplab.errors import InputError  # noqa: E402
from minideeplab.kernels import _threads  # noqa: E402


@pytest.fixture
def pool(monkeypatch):
    """Three threads, every call shared; the thread count is restored afterwards."""
    monkeypatch.setattr(_threads, "SHARE_ABOVE_SECONDS", 0.0)
    previous = _threads.get_num_threads()
    _threads.set_num_threads(3)
    yield
    _threads.set_num_threads(previous)


def recording_kernel():
    calls = []

    def kernel(first, stop, out):
        calls.append((first, stop, threading.current_thread().name))
        out[first:stop] += 1
    return kernel, calls


def test_the_slices_cover_every_task_once_on_as_many_threads(pool):
    kernel, calls = recording_kernel()
    out = np.zeros(10)
    _threads.parallel_for(kernel, 10, out, work=10)
    assert np.array_equal(out, np.ones(10))                 # every task exactly once
    assert sorted((first, stop) for first, stop, _ in calls) == [(0, 3), (3, 6), (6, 10)]
    names = {first: name for first, _, name in calls}
    assert names[0] == threading.current_thread().name      # the caller takes the first slice
    assert len({names[3], names[6]}) == 2 and all(n.startswith("minideeplab") for n in
                                                   (names[3], names[6]))


def test_fewer_tasks_than_threads_gives_one_slice_per_task(pool):
    kernel, calls = recording_kernel()
    _threads.parallel_for(kernel, 2, np.zeros(2), work=2)
    assert sorted((first, stop) for first, stop, _ in calls) == [(0, 1), (1, 2)]


def test_the_first_calls_run_alone_then_long_ones_are_shared(pool, monkeypatch):
    # the rule: the first TIMED_CALLS calls of a kernel and size run alone, timed; later
    # calls are shared if one of those took SHARE_ABOVE_SECONDS or more
    monkeypatch.setattr(_threads, "_seconds_alone", {})
    monkeypatch.setattr(_threads, "_fastest_alone", {})
    monkeypatch.setattr(_threads, "SHARE_ABOVE_SECONDS", 0.005)
    calls = []

    def slow(first, stop, out):          # 20 ms a call: worth sharing
        calls.append((first, stop, threading.current_thread().name))
        time.sleep(0.02)

    def quick(first, stop, out):         # far below 5 ms, however busy the machine
        calls.append((first, stop, threading.current_thread().name))

    me = threading.current_thread().name
    for kernel, shared in ((slow, True), (quick, False)):
        for _ in range(_threads.TIMED_CALLS):
            calls.clear()
            _threads.parallel_for(kernel, 9, np.zeros(9), work=9)
            assert calls == [(0, 9, me)], "a timed first call runs alone"
        calls.clear()
        _threads.parallel_for(kernel, 9, np.zeros(9), work=9)
        assert len(calls) == (3 if shared else 1), kernel.__name__
    # another size of the same kernel is a new decision: timed alone first
    calls.clear()
    _threads.parallel_for(slow, 9, np.zeros(9), work=10)
    assert calls == [(0, 9, me)]
    # the threshold is read at every call: raised above the slow kernel's time, it runs alone
    monkeypatch.setattr(_threads, "SHARE_ABOVE_SECONDS", 1.0)
    calls.clear()
    _threads.parallel_for(slow, 9, np.zeros(9), work=9)
    assert calls == [(0, 9, me)]


def test_one_thread_never_times_nor_shares(monkeypatch):
    monkeypatch.setattr(_threads, "_seconds_alone", {})
    monkeypatch.setattr(_threads, "_fastest_alone", {})
    previous = _threads.get_num_threads()
    _threads.set_num_threads(1)
    try:
        kernel, calls = recording_kernel()
        for _ in range(3):
            _threads.parallel_for(kernel, 4, np.zeros(4), work=4)
        assert len(calls) == 3 and _threads._seconds_alone == _threads._fastest_alone == {}
    finally:
        _threads.set_num_threads(previous)


def test_an_error_in_a_worker_is_raised_after_every_slice_finished(pool):
    finished = []

    def kernel(first, stop):
        if first == 3:
            raise ValueError("slice 3 failed")
        finished.append(first)

    with pytest.raises(ValueError, match="slice 3 failed"):
        _threads.parallel_for(kernel, 9, work=9)
    assert sorted(finished) == [0, 6]
    # the pool still works afterwards
    kernel2, calls = recording_kernel()
    _threads.parallel_for(kernel2, 9, np.zeros(9), work=9)
    assert len(calls) == 3


def test_a_call_from_inside_a_slice_runs_on_its_own_thread(pool):
    # the pool is busy with the outer call: the inner one runs as one slice, no deadlock
    inner_calls = []

    def inner(first, stop):
        inner_calls.append((first, stop))

    def outer(first, stop):
        _threads.parallel_for(inner, 4, work=4)

    _threads.parallel_for(outer, 3, work=3)
    assert sorted(inner_calls) == [(0, 4)] * 3


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_the_thread_count_must_be_a_positive_int(bad):
    with pytest.raises(InputError, match="n must be a positive int"):
        _threads.set_num_threads(bad)

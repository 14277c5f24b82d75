"""The timing helper's logic, with a fake clock (no real time is measured or asserted).

The fake clock advances by a scripted number of "seconds" inside every call, so
each test knows exactly which sample every call produced.
"""

import pytest

from minideeplab.errors import InputError, InputTypeError
from minideeplab.timing import BACK_TO_BACK, COLD, time_interleaved


class FakeClock:
    """A clock that only moves when a contender runs (or when sleep is called)."""

    def __init__(self):
        self.now = 0.0
        self.log = []           # every event in order: ("call", name) or ("sleep", seconds)

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.log.append(("sleep", seconds))
        self.now += seconds

    def contender(self, name, durations):
        """A function whose k-th call takes durations[k] seconds of fake time."""
        calls = iter(durations)

        def run():
            self.log.append(("call", name))
            self.now += next(calls)
        return run


def test_blocks_are_interleaved_after_a_warm_up():
    clock = FakeClock()
    contenders = {"a": clock.contender("a", [9.0] + [1.0] * 4),
                  "b": clock.contender("b", [9.0] + [2.0] * 4)}
    time_interleaved(contenders, blocks=2, calls=2, warmup=1, clock=clock, sleep=clock.sleep)
    calls = [name for kind, name in clock.log if kind == "call"]
    # one warm-up call each, then a's block, b's block, a's block, b's block
    assert calls == ["a", "b", "a", "a", "b", "b", "a", "a", "b", "b"]


def test_the_figure_is_the_fastest_blocks_median_and_warm_up_is_not_timed():
    clock = FakeClock()
    # warm-up 100 s (not timed); block 1: 5, 1, 9 -> median 5; block 2: 3, 4, 2 -> median 3
    contenders = {"a": clock.contender("a", [100.0, 5.0, 1.0, 9.0, 3.0, 4.0, 2.0])}
    result = time_interleaved(contenders, blocks=2, calls=3, warmup=1, clock=clock,
                              sleep=clock.sleep)
    timing = result["a"]
    assert timing.samples == [[5.0, 1.0, 9.0], [3.0, 4.0, 2.0]]
    assert timing.block_medians == [5.0, 3.0]
    assert timing.seconds == 3.0              # not the overall minimum (1.0), not the mean
    assert timing.regime == BACK_TO_BACK
    assert ("sleep", 0.2) not in clock.log    # back to back: no pause anywhere


def test_calls_per_block_can_differ_per_contender_and_default_to_ten():
    clock = FakeClock()
    contenders = {"slow": clock.contender("slow", [1.0] * 3),
                  "fast": clock.contender("fast", [1.0] * 21)}
    result = time_interleaved(contenders, blocks=2, calls={"slow": 1}, warmup=1,
                              clock=clock, sleep=clock.sleep)
    assert [len(block) for block in result["slow"].samples] == [1, 1]
    assert [len(block) for block in result["fast"].samples] == [10, 10]


def test_cold_regime_sleeps_before_every_timed_call_and_says_so():
    clock = FakeClock()
    contenders = {"a": clock.contender("a", [1.0] * 5)}
    result = time_interleaved(contenders, blocks=2, calls=2, warmup=1, cold=True, settle=0.5,
                              clock=clock, sleep=clock.sleep)
    # the warm-up call is not preceded by a pause; each of the 4 timed calls is
    assert clock.log == [("call", "a")] + [("sleep", 0.5), ("call", "a")] * 4
    assert result["a"].regime == COLD
    assert result["a"].seconds == 1.0         # the pause itself is never timed


def test_a_pause_and_an_untimed_call_open_each_block_when_asked():
    # between_blocks: other libraries' spinning threads settle, then untimed calls for rewarm
    # seconds (here one: each takes longer), then the block's timed calls back to back
    clock = FakeClock()
    contenders = {"a": clock.contender("a", [1.0] * 7), "b": clock.contender("b", [5.0] * 7)}
    result = time_interleaved(contenders, blocks=2, calls=2, warmup=1, between_blocks=0.3,
                              clock=clock, sleep=clock.sleep)
    def block(name):
        return [("sleep", 0.3), ("call", name), ("call", name), ("call", name)]

    assert clock.log == [("call", "a"), ("call", "b")] + (block("a") + block("b")) * 2
    assert result["a"].seconds == 1.0 and result["b"].seconds == 5.0
    assert result["a"].regime == BACK_TO_BACK


def test_after_the_pause_untimed_calls_run_for_rewarm_seconds():
    # calls of 0.04 s: three untimed ones reach 0.1 s after the pause, then the block
    clock = FakeClock()
    contenders = {"a": clock.contender("a", [0.04] * 12)}
    time_interleaved(contenders, blocks=2, calls=2, warmup=0, between_blocks=0.3, rewarm=0.1,
                     clock=clock, sleep=clock.sleep)
    block = [("sleep", 0.3)] + [("call", "a")] * 3 + [("call", "a")] * 2
    assert clock.log == block * 2


@pytest.mark.parametrize("kwargs, error", [
    (dict(contenders={}), InputError),
    (dict(contenders={"a": 3}), InputTypeError),
    (dict(contenders={"a": lambda: None}, blocks=0), InputError),
    (dict(contenders={"a": lambda: None}, calls=0), InputError),
    (dict(contenders={"a": lambda: None}, calls={"a": 0}), InputError),
    (dict(contenders={"a": lambda: None}, warmup=-1), InputError),
    (dict(contenders={"a": lambda: None}, cold=True, settle=0), InputError),
    (dict(contenders={"a": lambda: None}, between_blocks=-1), InputError),
    (dict(contenders={"a": lambda: None}, rewarm=-1), InputError),
])
def test_bad_arguments_are_named(kwargs, error):
    contenders = kwargs.pop("contenders")
    with pytest.raises(error):
        time_interleaved(contenders, **kwargs)

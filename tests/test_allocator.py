"""reuse_freed_memory: freed blocks are reused without new page faults, and handed back after.

Page faults and resident memory are counted by the kernel (``ru_minflt``,
``VmRSS``), not timed; each case runs in a child process of its own, since
the allocator's settings are process-wide.
"""

import json
import subprocess
import sys
import textwrap

import pytest

from minideeplab.allocator import is_supported, reuse_freed_memory

pytestmark = pytest.mark.skipif(not is_supported(), reason="glibc's mallopt only (Linux)")

CHILD = textwrap.dedent("""
    import contextlib, json, resource, sys
    import numpy as np
    from minideeplab.allocator import reuse_freed_memory

    def rss_mib():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024

    def faults():
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

    # like a training step: ten 8 MiB activations written, kept, then all freed; four times
    per_round = []
    block = reuse_freed_memory() if sys.argv[1] == "reuse" else contextlib.nullcontext()
    with block:
        for _ in range(4):
            before = faults()
            arrays = [np.ones(2**21, np.float32) for _ in range(10)]
            del arrays
            per_round.append(faults() - before)
        rss_inside = rss_mib()
    print(json.dumps({"faults": per_round, "rss_inside": rss_inside, "rss_after": rss_mib()}))
""")


def run_child(mode):
    done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def test_steps_after_the_first_reuse_their_pages():
    default, reused = run_child("default"), run_child("reuse")
    # glibc's defaults hand the 80 MiB back after every round: every round faults again
    assert min(default["faults"][1:]) > 1000, default
    # kept for reuse: the first round maps the pages, the next ones fault (almost) never
    assert reused["faults"][0] > 1000, reused
    assert max(reused["faults"][1:]) < 0.05 * min(default["faults"][1:]), (reused, default)


def test_the_kept_memory_is_handed_back_when_the_block_ends():
    reused = run_child("reuse")
    assert reused["rss_inside"] - reused["rss_after"] > 60, reused      # of the 80 MiB kept


def test_nested_blocks_and_errors_leave_it_usable():
    with pytest.raises(RuntimeError):
        with reuse_freed_memory():
            with reuse_freed_memory():
                raise RuntimeError("inside")
    with reuse_freed_memory():
        pass

"""The profile summariser (orchestration/bench/profile.py) on hand-written py-spy stacks, and its
per-thread CPU reading on this process."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

from orchestration.bench.profile import (
    CODEC,
    DOMAIN,
    LOGGING,
    LOOP,
    OBJECTS,
    SCHEDULING,
    TAPE,
    ZMQ,
    Stack,
    category_of,
    flame_svg,
    parse_folded,
    perf_split,
    summarise,
    thread_cpu_seconds,
)

RT = "/w/services/runtime.py"
ZMQ_SOCKET = "/v/site-packages/zmq/sugar/socket.py"
BROKER = "/w/services/broker/service.py"
ROOT = "run (/py/asyncio/runners.py:118)"
FOLDED = f"""\
{ROOT};read ({RT}:390);_dispatch ({RT}:450);_on_order ({BROKER}:120) 6
{ROOT};read ({RT}:390);_dispatch ({RT}:450);Service.tape ({RT}:560) 3
{ROOT};_flush (/w/services/latency.py:130);send_multipart ({ZMQ_SOCKET}:700) 1
"""


def test_parse_folded_counts_samples_per_stack() -> None:
    stacks = parse_folded(FOLDED + "garbage line without count\n")

    assert sum(stacks.values()) == 10
    leaves = {stack[-1][0]: n for stack, n in stacks.items()}
    assert leaves == {"_on_order": 6, "Service.tape": 3, "send_multipart": 1}
    assert next(iter(stacks))[1] == ("read", RT, 390)


def _stack(*frames: tuple[str, str, int]) -> Stack:
    return tuple(frames)


def test_category_of_anything_under_tape_is_tape_even_when_zmq_sends() -> None:
    stack = _stack(("_dispatch", RT, 450), ("Service.tape", RT, 560), ("send", ZMQ_SOCKET, 1))

    assert category_of(stack, {}) == TAPE


def test_category_of_zmq_frame_is_zmq_send_recv() -> None:
    stack = _stack(("_flush", "/w/services/latency.py", 130), ("send_multipart", ZMQ_SOCKET, 700))

    assert category_of(stack, {}) == ZMQ


def test_category_of_leaf_line_calling_encode_is_codec() -> None:
    leaf = ("reply_filled", "/w/services/reports.py", 88)

    assert category_of(_stack(leaf), {leaf: "link.send(encode(report))"}) == CODEC
    assert category_of(_stack(leaf), {leaf: "qty = order.qty - done"}) == DOMAIN


def test_category_of_logging_latency_queue_and_loop_frames() -> None:
    logged = _stack(
        ("_on_order", "/w/services/sor/service.py", 5), ("info", "/py/logging/__init__.py", 1)
    )
    queued = _stack(("send", "/w/services/latency.py", 110))

    in_loop = _stack(("run", "/py/asyncio/runners.py", 118))

    assert category_of(logged, {}) == LOGGING
    assert category_of(queued, {}) == SCHEDULING
    assert category_of(in_loop, {}) == LOOP


def test_category_of_the_served_sockets_frames() -> None:
    # services/sockets.py: a reader called from the socket's readiness (no pyzmq frame above)
    sockets = "/w/services/sockets.py"
    woken = (("_handle_events", sockets, 70), ("read", RT, 420))
    received = _stack(*woken, ("recv_frames", sockets, 45))
    in_handler = _stack(*woken, ("_dispatch", RT, 450), ("_on_order", BROKER, 120))
    reading = _stack(*woken)

    assert category_of(received, {}) == ZMQ
    assert category_of(in_handler, {}) == DOMAIN
    assert category_of(reading, {}) == SCHEDULING


def test_category_of_qualified_make_and_dataclass_init_are_objects() -> None:
    made = _stack(
        ("Broker._on_client", "/w/services/broker/service.py", 9), ("Service.make", RT, 3)
    )
    built = _stack(("Sor._plan", "/w/services/sor/service.py", 9), ("__init__", "<string>", 2))

    assert category_of(made, {}) == OBJECTS
    assert category_of(built, {}) == OBJECTS


def test_summarise_shares_of_samples_by_leaf_and_category() -> None:
    stacks = parse_folded(FOLDED)

    summary = summarise(stacks)

    assert summary["samples"] == 10
    assert summary["top_self_pct"] == {
        "_on_order (services/broker/service.py)": 60.0,
        "Service.tape (services/runtime.py)": 30.0,
        "send_multipart (zmq/sugar/socket.py)": 10.0,
    }
    shares = summary["categories_pct"]
    assert isinstance(shares, dict)
    assert shares[TAPE] == 30.0 and shares[ZMQ] == 10.0


def test_flame_svg_has_one_box_per_frame_and_escapes_names() -> None:
    stacks: Counter[Stack] = Counter({_stack(("a<b>", "/x.py", 1), ("leaf", "/x.py", 2)): 4})

    svg = flame_svg(stacks, "t & t")

    assert svg.startswith("<svg") and svg.count("<rect") == 2
    assert "a&lt;b&gt;" in svg and "t &amp; t (4 samples)" in svg


def test_thread_cpu_seconds_splits_the_main_thread_from_the_others() -> None:
    # A second thread of this process burns 0.3 s of CPU, then waits to be let go (a thread
    # that has ended leaves /proc/PID/task, and its time with it: libzmq's I/O threads live as
    # long as their process). The main thread waits meanwhile (asleep, no CPU). The other
    # threads' seconds grow by about 0.3, the main thread's by far less (the clock ticks at
    # 1/100 s: 0.2 is a safe floor for 0.3).
    burnt, let_go = threading.Event(), threading.Event()

    def burn() -> None:
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        burnt.set()
        let_go.wait(10.0)

    main_before, other_before = thread_cpu_seconds(os.getpid())
    worker = threading.Thread(target=burn)
    worker.start()
    try:
        assert burnt.wait(10.0)
        main_after, other_after = thread_cpu_seconds(os.getpid())
    finally:
        let_go.set()
        worker.join()

    assert other_after - other_before >= 0.2
    assert main_after - main_before < 0.1
    assert thread_cpu_seconds(2**22 + 12345) == (0.0, 0.0)  # no such process


PERF_REPORT = """\
# To display the perf.data header info, please use --header/--header-only options.
#
# Samples: 5K of event 'cpu-clock'
#
# Overhead  Command          Shared Object
# ........  ...............  ..............................
#
    50.00%  python3          libpython3.11.so.1.0
    12.50%  ZMQbg/IO/0       [kernel.kallsyms]
    10.00%  python3          [kernel.kallsyms]
     6.25%  ZMQbg/IO/0       libsodium-6c8f8377.so.26.4.0
     5.00%  python3          _core.cpython-311-x86_64-linux-gnu.so
     4.00%  flowlab          libpython3.11.so.1.0
     3.25%  swapper          [kernel.kallsyms]
     3.00%  ZMQbg/IO/0       libzmq-2f02442c.so.5.2.5
     2.00%  python3          loop.cpython-311-x86_64-linux-gnu.so
     1.50%  python3          _zmq.cpython-311-x86_64-linux-gnu.so
     1.50%  kworker/u8:12-e  [kernel.kallsyms]
     1.00%  python3          libfoo.so
"""


def test_perf_split_sums_perfs_shares_by_thread_kind_and_library() -> None:
    split = perf_split(PERF_REPORT)

    # by hand from the lines above: ZMQbg threads 12.5 + 6.25 + 3 = 21.75; idle (swapper)
    # 3.25; kworker 1.5 (other); python3 and flowlab: 100 - 21.75 - 3.25 - 1.5 = 73.5
    assert split["threads"] == {
        "python threads": 73.5,
        "libzmq threads": 21.8,
        "idle": 3.2,
        "other": 1.5,
    }
    assert split["libraries"]["python interpreter"] == 54.0  # python3 50 + flowlab 4
    assert split["libraries"]["kernel"] == 27.2  # 12.5 + 10 + 3.25 + 1.5
    assert split["libraries"]["CURVE encryption (libsodium)"] == 6.2
    assert split["libraries"]["msgspec"] == 5.0
    assert split["libraries"]["other"] == 1.0  # libfoo
    assert split["both"]["libzmq threads / kernel"] == 12.5
    assert round(sum(split["libraries"].values()), 0) == 100

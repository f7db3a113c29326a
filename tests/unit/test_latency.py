"""Per-link latency: which spec a link gets, what its model samples, and the FIFO delay queue
that sends over a real pair of ZeroMQ sockets."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import numpy as np
import pytest
import zmq
import zmq.asyncio

from config.scenario import LatencyConfig, LatencySpec, LinkLatency
from protocol.codec import VERSION
from services.latency import (
    LOGNORMAL_BOUND,
    LOGNORMAL_SIGMA,
    SAMPLE_BLOCK,
    TOLERANCE_NS,
    LatencyModel,
    Link,
    direct_send_ok,
    latency_for,
    pack,
    worst_case_ns,
)

RECEIVE_TIMEOUT_S = 5.0
SAMPLES = 20_000

DEFAULT = LatencySpec(base_us=100, jitter_us=50)
BROKER_TO_WHOLESALERS = LinkLatency(src="broker", dst="wholesaler", base_us=1_000)
BROKER_TO_WH_A = LinkLatency(src="broker", dst="wh-a", base_us=2_000)
ANY_TO_ANY = LinkLatency(src="*", dst="*", base_us=3_000)


def config(*links: LinkLatency) -> LatencyConfig:
    return LatencyConfig(default=DEFAULT, links=list(links))


def model(base_us: int, jitter_us: int, kind: str, seed: int = 7) -> LatencyModel:
    spec = LatencySpec(base_us=base_us, jitter_us=jitter_us, model=kind)  # type: ignore[arg-type]
    return LatencyModel(spec, np.random.default_rng(seed))


def samples(latency: LatencyModel, count: int = SAMPLES) -> np.ndarray:
    return np.array([latency.sample_ns() for _ in range(count)])


def payload(i: int) -> bytes:
    return f"m{i:04d}".encode()


async def receive_payloads(sock: zmq.asyncio.Socket, count: int) -> list[list[bytes]]:
    """Multipart messages (version frame removed) until ``count`` payloads have arrived."""
    received: list[list[bytes]] = []

    async def receive() -> None:
        while sum(len(m) for m in received) < count:
            frames = await sock.recv_multipart()
            assert frames[0] == VERSION
            received.append(frames[1:])

    await asyncio.wait_for(receive(), RECEIVE_TIMEOUT_S)
    return received


@pytest.fixture
async def push_pull() -> AsyncIterator[tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]]:
    context = zmq.asyncio.Context()
    push = context.socket(zmq.PUSH)
    pull = context.socket(zmq.PULL)
    push.linger = pull.linger = 0
    try:
        push.bind("inproc://link-under-test")
        pull.connect("inproc://link-under-test")
        yield push, pull
    finally:
        push.close(linger=0)
        pull.close(linger=0)
        context.term()


async def hello(router: zmq.asyncio.Socket, dealer: zmq.asyncio.Socket) -> bytes:
    """The dealer's first message, so the ROUTER knows its identity (returned)."""
    await dealer.send_multipart([VERSION, b"hello"])
    identity, *_ = await asyncio.wait_for(router.recv_multipart(), RECEIVE_TIMEOUT_S)
    return bytes(identity)


async def arrival_then_link_send(
    receiver: zmq.asyncio.Socket, arrival: Awaitable[object], link: Link
) -> list[bytes]:
    """Park a receive on ``receiver``; let ``arrival`` deliver a message to it while the loop
    is blocked (a blocking sleep: it cannot see the descriptor turn readable); then send
    through ``link`` at once (the direct send). What the parked receive got, within 1 s."""
    waiting = asyncio.ensure_future(receiver.recv_multipart())
    # parked: pyzmq registers the receive at once and its reader with the loop on the loop's
    # next turns; 50 ms of them, as nothing here says when that is done
    await asyncio.sleep(0.05)
    await arrival
    time.sleep(0.1)  # it arrives; the loop does not run
    link.send(b"sent meanwhile")
    link.flush_now()
    return await asyncio.wait_for(waiting, 1.0)


@pytest.fixture
async def router_dealer() -> AsyncIterator[tuple[zmq.asyncio.Socket, zmq.asyncio.Socket]]:
    context = zmq.asyncio.Context()
    router = context.socket(zmq.ROUTER)
    dealer = context.socket(zmq.DEALER)
    router.linger = dealer.linger = 0
    dealer.identity = b"peer-1"
    try:
        port = router.bind_to_random_port("tcp://127.0.0.1")
        dealer.connect(f"tcp://127.0.0.1:{port}")
        yield router, dealer
    finally:
        router.close(linger=0)
        dealer.close(linger=0)
        context.term()


def test_latency_for_no_links_returns_default() -> None:
    # Arrange
    latency = config()

    # Act
    spec = latency_for(latency, "broker", "broker", "wh-a", "wholesaler")

    # Assert
    assert spec == DEFAULT


def test_latency_for_no_matching_link_returns_default() -> None:
    # Arrange
    latency = config(BROKER_TO_WHOLESALERS)

    # Act
    spec = latency_for(latency, "agents", "agents", "wh-a", "wholesaler")

    # Assert
    assert spec == DEFAULT


def test_latency_for_link_matching_by_role_returns_link() -> None:
    # Arrange
    latency = config(BROKER_TO_WHOLESALERS)

    # Act
    spec = latency_for(latency, "broker-1", "broker", "wh-b", "wholesaler")

    # Assert
    assert spec == BROKER_TO_WHOLESALERS


def test_latency_for_link_matching_by_name_returns_link() -> None:
    # Arrange
    latency = config(BROKER_TO_WH_A)

    # Act
    spec = latency_for(latency, "broker", "broker", "wh-a", "wholesaler")

    # Assert
    assert spec == BROKER_TO_WH_A


def test_latency_for_name_link_does_not_apply_to_other_names_of_role() -> None:
    # Arrange
    latency = config(BROKER_TO_WH_A)

    # Act
    spec = latency_for(latency, "broker", "broker", "wh-b", "wholesaler")

    # Assert
    assert spec == DEFAULT


def test_latency_for_several_matching_links_last_wins() -> None:
    # Arrange
    latency = config(BROKER_TO_WHOLESALERS, BROKER_TO_WH_A)

    # Act
    to_wh_a = latency_for(latency, "broker", "broker", "wh-a", "wholesaler")
    to_wh_b = latency_for(latency, "broker", "broker", "wh-b", "wholesaler")

    # Assert
    assert to_wh_a == BROKER_TO_WH_A
    assert to_wh_b == BROKER_TO_WHOLESALERS


def test_latency_for_later_wildcard_overrides_earlier_name_link() -> None:
    # Arrange: order in the file decides, not how specific a pattern is
    latency = config(BROKER_TO_WH_A, ANY_TO_ANY)

    # Act
    spec = latency_for(latency, "broker", "broker", "wh-a", "wholesaler")

    # Assert
    assert spec == ANY_TO_ANY


def test_latency_for_wildcard_source_matches_any_sender() -> None:
    # Arrange
    to_venues = LinkLatency(src="*", dst="venue", base_us=400)
    latency = config(to_venues)

    # Act
    from_agents = latency_for(latency, "agents", "agents", "lit-a", "venue")
    from_sor = latency_for(latency, "sor", "sor", "lit-b", "venue")
    to_sip = latency_for(latency, "sor", "sor", "sip", "sip")

    # Assert
    assert from_agents == from_sor == to_venues
    assert to_sip == DEFAULT


@pytest.mark.parametrize("kind", ["constant", "uniform", "lognormal"])
def test_latency_model_without_jitter_samples_base(kind: str) -> None:
    # Arrange
    latency = model(base_us=250, jitter_us=0, kind=kind)

    # Act
    drawn = samples(latency, 100)

    # Assert
    assert set(drawn.tolist()) == {250_000}


def test_latency_model_constant_samples_base_plus_jitter() -> None:
    # Arrange
    latency = model(base_us=100, jitter_us=50, kind="constant")

    # Act
    drawn = samples(latency, 100)

    # Assert
    assert set(drawn.tolist()) == {150_000}


@pytest.mark.parametrize("kind", ["uniform", "lognormal"])
def test_latency_model_random_kinds_mean_is_base_plus_jitter(kind: str) -> None:
    # Arrange
    latency = model(base_us=1_000, jitter_us=200, kind=kind)

    # Act
    drawn = samples(latency)

    # Assert
    jitter = drawn - 1_000_000
    assert jitter.min() >= 0
    assert jitter.mean() == pytest.approx(200_000, rel=0.03)
    assert jitter.std() > 0


def test_latency_model_uniform_stays_within_twice_the_jitter() -> None:
    # Arrange
    latency = model(base_us=1_000, jitter_us=200, kind="uniform")

    # Act
    drawn = samples(latency)

    # Assert
    assert drawn.min() >= 1_000_000
    assert drawn.max() < 1_400_000


@pytest.mark.parametrize("kind", ["lognormal", "uniform"])
def test_latency_model_block_draws_equal_one_draw_per_message(kind: str) -> None:
    # Arrange: the delays one scalar numpy call per message gives, from the same seed
    count = 2 * SAMPLE_BLOCK + 3  # crosses two block refills
    rng = np.random.default_rng(7)
    mu = math.log(200_000) - LOGNORMAL_SIGMA**2 / 2
    draw = {
        "lognormal": lambda: rng.lognormal(mu, LOGNORMAL_SIGMA),
        "uniform": lambda: rng.uniform(0.0, 400_000.0),
    }[kind]
    expected = [1_000_000 + int(draw()) for _ in range(count)]
    latency = model(base_us=1_000, jitter_us=200, kind=kind, seed=7)

    # Act
    drawn = [latency.sample_ns() for _ in range(count)]

    # Assert
    assert drawn == expected


def test_latency_model_lognormal_has_right_skew() -> None:
    # Arrange
    latency = model(base_us=0, jitter_us=200, kind="lognormal")

    # Act
    drawn = samples(latency)

    # Assert: median below mean, a tail well above it
    assert np.median(drawn) < drawn.mean()
    assert drawn.max() > 2 * drawn.mean()


@pytest.mark.parametrize("kind", ["constant", "uniform", "lognormal"])
def test_latency_model_same_seed_samples_same_sequence(kind: str) -> None:
    # Arrange
    first = model(base_us=10, jitter_us=500, kind=kind, seed=42)
    second = model(base_us=10, jitter_us=500, kind=kind, seed=42)

    # Act
    a, b = samples(first, 500), samples(second, 500)

    # Assert
    assert a.tolist() == b.tolist()


@pytest.mark.parametrize(
    ("kind", "bound_ns"),
    [("constant", 1_200_000), ("uniform", 1_400_000), ("lognormal", 1_000_000 + 20 * 200_000)],
)
def test_worst_case_bounds_every_sample_of_the_model(kind: str, bound_ns: int) -> None:
    # Arrange
    spec = LatencySpec(base_us=1_000, jitter_us=200, model=kind)  # type: ignore[arg-type]

    # Act
    bound = worst_case_ns(spec)

    # Assert
    assert bound == bound_ns
    assert samples(model(1_000, 200, kind)).max() <= bound


@pytest.mark.parametrize("kind", ["constant", "uniform", "lognormal"])
def test_worst_case_without_jitter_is_the_base(kind: str) -> None:
    spec = LatencySpec(base_us=1_500, jitter_us=0, model=kind)  # type: ignore[arg-type]

    assert worst_case_ns(spec) == 1_500_000


def test_worst_case_lognormal_bound_is_exceeded_less_than_once_in_a_billion() -> None:
    # P(X > k * mean) for a lognormal of shape sigma: X / mean = exp(sigma * Z - sigma^2 / 2)
    z = (math.log(LOGNORMAL_BOUND) + LOGNORMAL_SIGMA**2 / 2) / LOGNORMAL_SIGMA

    assert 0.5 * math.erfc(z / math.sqrt(2)) < 1e-9


def test_latency_model_zero_is_zero_and_samples_zero() -> None:
    # Arrange
    latency = LatencyModel.zero()

    # Act
    drawn = latency.sample_ns()

    # Assert
    assert latency.is_zero
    assert drawn == 0


async def test_link_jittery_model_delivers_in_order_and_batches(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange
    push, pull = push_pull
    link = Link(push, model(base_us=0, jitter_us=2_000, kind="lognormal"))
    sent = [payload(i) for i in range(200)]

    # Act
    for p in sent:
        link.send(p)
    received = await receive_payloads(pull, len(sent))

    # Assert
    assert [p for message in received for p in message] == sent
    assert max(len(message) for message in received) > 1
    assert link.sent == len(sent)
    assert link.queued == 0


async def test_link_uniform_jitter_sends_over_several_iterations_in_order(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: sends spread over loop iterations, each waiting for the previous message to leave
    push, pull = push_pull
    link = Link(push, model(base_us=0, jitter_us=2_000, kind="uniform", seed=3))
    sent = [payload(i) for i in range(40)]
    received: list[list[bytes]] = []

    # Act
    for chunk_start in range(0, len(sent), 10):
        chunk = sent[chunk_start : chunk_start + 10]
        for p in chunk:
            link.send(p)
        received += await receive_payloads(pull, 1)
    delivered = [p for message in received for p in message]
    received += await receive_payloads(pull, len(sent) - len(delivered))

    # Assert
    assert [p for message in received for p in message] == sent


async def test_link_zero_model_one_iteration_leaves_as_one_multipart(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange
    push, pull = push_pull
    link = Link(push, LatencyModel.zero())
    sent = [payload(i) for i in range(5)]

    # Act
    for p in sent:
        link.send(p)
    received = await receive_payloads(pull, len(sent))

    # Assert
    assert received == [sent]
    assert (link.sent, link.batches) == (5, 1)


async def test_link_zero_model_single_message_leaves_at_once(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange
    push, pull = push_pull
    link = Link(push, LatencyModel.zero())

    # Act
    link.send(payload(1))
    received = await receive_payloads(pull, 1)

    # Assert
    assert received == [[payload(1)]]
    assert link.sent == 1


async def test_link_base_latency_holds_message_at_least_base(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange
    push, pull = push_pull
    base_us = 20_000
    link = Link(push, model(base_us=base_us, jitter_us=0, kind="constant"))
    start_ns = time.time_ns()

    # Act
    link.send(payload(1))
    await receive_payloads(pull, 1)
    elapsed_ns = time.time_ns() - start_ns

    # Assert
    assert elapsed_ns >= base_us * 1_000 - TOLERANCE_NS


async def test_link_flush_now_sends_everything_queued_at_once(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: due in an hour, so nothing leaves on its own during the test
    push, pull = push_pull
    link = Link(push, model(base_us=3_600_000_000, jitter_us=0, kind="constant"))
    sent = [payload(i) for i in range(3)]
    for p in sent:
        link.send(p)
    queued_before = link.queued
    pending_before = await pull.poll(timeout=0)

    # Act
    link.flush_now()
    received = await receive_payloads(pull, len(sent))

    # Assert
    assert queued_before == 3
    assert pending_before == 0
    assert received == [sent]
    assert link.queued == 0
    assert link.sent == 3


async def test_link_with_envelope_routes_to_peer_identity(
    router_dealer: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: the peer says hello first so the ROUTER knows its identity
    router, dealer = router_dealer
    identity = await hello(router, dealer)
    link = Link(router, LatencyModel.zero(), envelope=identity)
    sent = [payload(i) for i in range(3)]

    # Act
    for p in sent:
        link.send(p)
    received = await receive_payloads(dealer, len(sent))

    # Assert
    assert identity == b"peer-1"
    assert received == [sent]
    assert link.sent == 3


async def test_link_direct_send_wakes_a_receive_whose_message_arrived_before_it(
    router_dealer: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: a receive is parked on the dealer; a message for it arrives while the loop is
    # busy elsewhere (a blocking sleep: the loop cannot see the socket's descriptor turn
    # readable); then the dealer sends through its Link. libzmq's send takes the arrival's
    # signal off the descriptor, which is edge-triggered: unless the send wakes the receive,
    # as pyzmq's own send does, the message waits for ever.
    router, dealer = router_dealer
    identity = await hello(router, dealer)
    to_router = Link(dealer, LatencyModel.zero())

    # Act
    arrival = router.send_multipart([identity, VERSION, b"for the parked receive"])
    got = await arrival_then_link_send(dealer, arrival, to_router)

    # Assert
    assert direct_send_ok(dealer) and to_router._shadow is not None  # the direct path
    assert got == [VERSION, b"for the parked receive"]
    assert to_router.sent == 1


async def test_link_direct_send_that_fails_still_wakes_a_parked_receive(
    router_dealer: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: as above, but the link's send fails (a peer the ROUTER does not know, with
    # ROUTER_MANDATORY): libzmq reads its pending commands before it fails, so a failed send
    # can consume an arrival's edge too, and pyzmq wakes receives after failures as well.
    router, dealer = router_dealer
    router.router_mandatory = 1
    identity = await hello(router, dealer)
    to_nobody = Link(router, LatencyModel.zero(), envelope=b"nobody")

    # Act: the link's send fails
    arrival = dealer.send_multipart([VERSION, b"for the parked receive"])
    got = await arrival_then_link_send(router, arrival, to_nobody)

    # Assert
    assert to_nobody._shadow is not None  # the direct path was taken
    assert got == [identity, VERSION, b"for the parked receive"]
    assert (to_nobody.unroutable, to_nobody.sent, to_nobody.batches) == (1, 0, 0)


async def test_link_batch_stays_behind_a_send_parked_on_its_socket(tmp_path: Path) -> None:
    # Arrange: a DEALER whose only pipe is full (one message queued for a peer not yet there,
    # high water mark 1); a second send without DONTWAIT parks in pyzmq, as the runtime's
    # replies on a full socket do. A link's batch on that socket must go behind it: sent
    # directly it would meet the full pipe, and flush_now would give it up.
    context = zmq.asyncio.Context()
    endpoint = f"ipc://{tmp_path / 'peer'}"  # nobody listens there yet
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.sndhwm = 1
    router = context.socket(zmq.ROUTER)
    router.linger = 0
    try:
        dealer.connect(endpoint)
        await dealer.send_multipart([VERSION, b"first"])
        parked = dealer.send_multipart([VERSION, b"parked"])
        assert dealer._send_futures  # type: ignore[attr-defined]  # parked in pyzmq
        link = Link(dealer, LatencyModel.zero())

        # Act
        link.send(b"after")
        link.flush_now()
        router.bind(endpoint)
        await asyncio.wait_for(parked, RECEIVE_TIMEOUT_S)
        got = [
            (await asyncio.wait_for(router.recv_multipart(), RECEIVE_TIMEOUT_S))[2]
            for _ in range(3)
        ]

        # Assert
        assert got == [b"first", b"parked", b"after"]
        assert (link.sent, link.unroutable, link.blocked) == (1, 0, 0)
    finally:
        dealer.close(linger=0)
        router.close(linger=0)
        context.term()


async def test_link_frame_that_is_not_bytes_leaves_nothing_half_sent(
    router_dealer: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    # Arrange: a payload that cannot be sent (text, not bytes). The compiled send would take
    # the version frame first and fail on the payload, leaving a half-sent message for the next
    # one to be glued to; such a batch goes through pyzmq's send, which checks every frame
    # before sending any.
    router, dealer = router_dealer
    identity = await hello(router, dealer)
    link = Link(dealer, LatencyModel.zero())

    # Act
    link.send("not bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        link.flush_now()
    await dealer.send_multipart([VERSION, b"next"])
    got = await asyncio.wait_for(router.recv_multipart(), RECEIVE_TIMEOUT_S)

    # Assert
    assert got == [identity, VERSION, b"next"]
    assert link.sent == 0


def test_pack_joins_payloads_in_order_into_frames_up_to_the_limit() -> None:
    payloads = [b"a" * 4, b"b" * 3, b"c" * 5, b"d" * 12, b"e" * 2]

    frames = pack(payloads, limit=10)

    # by hand: a+b = 7 (c would make 12 > 10); c alone (d would make 17); d alone (12 > 10,
    # a frame of its own); e
    assert frames == [b"aaaabbb", b"ccccc", b"d" * 12, b"ee"]
    assert b"".join(frames) == b"".join(payloads)
    assert pack([], limit=10) == []


async def test_link_packed_sends_a_batch_as_one_frame_in_order(
    push_pull: tuple[zmq.asyncio.Socket, zmq.asyncio.Socket],
) -> None:
    push, pull = push_pull
    link = Link(push, LatencyModel.zero(), packed=True)

    for i in range(5):
        link.send(b"<%d>" % i)
    link.flush_now()
    frames = await asyncio.wait_for(pull.recv_multipart(), RECEIVE_TIMEOUT_S)

    assert frames == [VERSION, b"<0><1><2><3><4>"]
    assert (link.sent, link.batches) == (5, 1)

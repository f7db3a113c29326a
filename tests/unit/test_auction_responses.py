"""Spec tests for an open auction's responses: modify, replace, cancel, and who may."""

from __future__ import annotations

from protocol.common import Side
from services.auction.core import AuctionResponse, AuctionSpec, clear
from services.auction.responses import ResponseBook

BID = 100_000_000  # $100.00
ASK = 100_010_000  # $100.01
END = 2_000


def book() -> ResponseBook:
    spec = AuctionSpec("A1", "XYZ", Side.BUY, 1_000, None, BID, ASK, 1_000, 1_000, END)
    return ResponseBook(spec)


def response(rid: str, responder: str, price: int, ts_ns: int = 1_500) -> AuctionResponse:
    return AuctionResponse(rid, responder, price, 1_000, ts_ns)


def test_submit_first_response_is_live() -> None:
    responses = book()
    outcome = responses.submit(response("a1", "alice", ASK))
    assert (outcome.reason, outcome.replaced, outcome.modified) == (None, None, False)
    assert [r.response_id for r in responses.live()] == ["a1"]


def test_submit_same_id_from_same_responder_modifies_in_place() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK, 1_100))
    outcome = responses.submit(response("a1", "alice", ASK - 3_000, 1_200))
    assert outcome.modified and outcome.replaced is None and outcome.reason is None
    assert [(r.price, r.ts_ns) for r in responses.live()] == [(ASK - 3_000, 1_200)]


def test_submit_new_id_from_same_responder_replaces_the_live_one() -> None:
    responses = book()
    first = response("a1", "alice", ASK, 1_100)
    responses.submit(first)
    outcome = responses.submit(response("a2", "alice", ASK - 2_000, 1_300))
    assert outcome.replaced == first
    assert [r.response_id for r in responses.live()] == ["a2"]


def test_replacement_loses_time_priority_to_an_earlier_equal_price() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK - 1_000, 1_100))
    responses.submit(response("b1", "bob", ASK - 1_000, 1_200))
    responses.submit(response("a2", "alice", ASK - 1_000, 1_300))  # same price, re-entered
    clearing = clear(responses.spec, responses.live(), (BID, ASK))
    assert [a.responder for a in clearing.allocations] == ["bob"]


def test_refused_replacement_leaves_the_live_response_untouched() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK - 1_000))
    outcome = responses.submit(response("a2", "alice", ASK + 1_000))  # worse than the NBBO
    assert outcome.reason == "price: worse than the NBBO at auction start"
    assert [(r.response_id, r.price) for r in responses.live()] == [("a1", ASK - 1_000)]


def test_replacement_after_the_window_is_refused_naming_ts_ns() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    outcome = responses.submit(response("a1", "alice", ASK - 1_000, END))
    assert outcome.reason == "ts_ns: after the auction window closed"
    assert [r.price for r in responses.live()] == [ASK]


def test_another_responder_cannot_modify_someone_elses_response() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK - 1_000))
    outcome = responses.submit(response("a1", "bob", ASK))  # bob reuses alice's id
    assert outcome.reason == "response_id: another responder's response"
    assert [(r.responder, r.price) for r in responses.live()] == [("alice", ASK - 1_000)]


def test_another_responder_cannot_cancel_someone_elses_response() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    assert responses.cancel("bob", "a1", 1_600) == ("response_id: another responder's response", 0)
    assert [r.response_id for r in responses.live()] == ["a1"]


def test_cancel_own_live_response_removes_it_and_returns_its_qty() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    assert responses.cancel("alice", "a1", 1_600) == (None, 1_000)
    assert responses.live() == []


def test_cancel_after_the_window_is_refused_naming_ts_ns() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    assert responses.cancel("alice", "a1", END) == ("ts_ns: after the auction window closed", 0)
    assert len(responses.live()) == 1


def test_cancel_of_unknown_or_replaced_id_is_refused_naming_response_id() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    responses.submit(response("a2", "alice", ASK))
    assert responses.cancel("alice", "zz", 1_600) == ("response_id: unknown in this auction", 0)
    replaced = responses.cancel("alice", "a1", 1_600)
    assert replaced == ("response_id: no longer live (canceled or replaced)", 0)


def test_a_canceled_id_cannot_be_revived() -> None:
    responses = book()
    responses.submit(response("a1", "alice", ASK))
    responses.cancel("alice", "a1", 1_600)
    outcome = responses.submit(response("a1", "alice", ASK, 1_700))
    assert outcome.reason == "response_id: no longer live (canceled or replaced)"
    assert responses.live() == []


def test_one_live_response_per_responder_across_several_responders() -> None:
    responses = book()
    for rid, who, price in [("a1", "alice", ASK), ("b1", "bob", ASK - 1_000), ("a2", "alice", BID)]:
        responses.submit(response(rid, who, price))
    assert sorted((r.responder, r.response_id) for r in responses.live()) == [
        ("alice", "a2"),
        ("bob", "b1"),
    ]


def test_firm_responses_refuse_a_second_response_and_any_cancel() -> None:
    responses = ResponseBook(book().spec, updates=False)
    responses.submit(response("a1", "alice", ASK))
    firm = "response_id: responses are firm for the window ([auction] response_updates = false)"
    assert responses.submit(response("a1", "alice", ASK - 1_000)).reason == firm
    assert responses.submit(response("a2", "alice", ASK - 1_000)).reason == firm
    assert responses.cancel("alice", "a1", 1_600) == (firm, 0)
    assert [(r.response_id, r.price) for r in responses.live()] == [("a1", ASK)]

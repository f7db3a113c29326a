"""The live responses of one open auction: submit, modify or replace, cancel — pure.

A responder holds at most one live response per auction. While the window is open it may
replace it (a later ``SubmitAuctionResponse`` from the same responder: the same
``response_id`` modifies it in place, a new one replaces it and the old one ends "replaced")
or withdraw it (``CancelAuctionResponse``); at or after ``end_ns`` both are refused, as a
first response is. A replacement is a new response: it is validated like one (a refused
replacement leaves the live response as it was) and ranks by its own arrival time.

Ownership: ``responder`` is the authenticated name (the shell checks it against the sender's
CURVE key before calling here), and a response id belongs to the responder that first used it
in this auction — no one else may modify, replace or cancel it.

Whether proposed Rule 615 (Release No. 34-96495, Dec 2022) lets responders modify or cancel a
response during the auction was not checked against the release's text (it could not be
found with the search tool here): updating is the lab's modelling choice, made so a response
is not a free option on the window's drift (docs/ECONOMICS.md, "The null case and the check
at execution").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.auction.core import AuctionResponse, AuctionSpec, validate_response

FIRM = "responses are firm for the window ([auction] response_updates = false)"


@dataclass(frozen=True, slots=True)
class Submitted:
    """The outcome of a submit: ``reason`` (``"<field>: <why>"``) when refused; else the
    response it replaced (``None``: a first response, or ``modified`` in place)."""

    reason: str | None = None
    replaced: AuctionResponse | None = None
    modified: bool = False


@dataclass(slots=True)
class ResponseBook:
    """Responses of one auction, keyed by responder; ``live()`` in arrival order."""

    spec: AuctionSpec
    updates: bool = True  # [auction] response_updates: false keeps responses firm
    _live: dict[str, tuple[int, AuctionResponse]] = field(default_factory=dict)
    _owner: dict[str, str] = field(default_factory=dict)  # every response id seen -> responder
    _arrivals: int = 0

    def submit(self, response: AuctionResponse) -> Submitted:
        """Add ``response``, or let it replace its responder's live one."""
        owner = self._owner.get(response.response_id)
        current = self._live.get(response.responder)
        live_id = current[1].response_id if current is not None else None
        if owner is not None and owner != response.responder:
            return Submitted("response_id: another responder's response")
        if not self.updates and (owner is not None or current is not None):
            return Submitted(f"response_id: {FIRM}")
        if owner is not None and live_id != response.response_id:
            return Submitted("response_id: no longer live (canceled or replaced)")
        reason = validate_response(self.spec, response)
        if reason is not None:
            return Submitted(reason)
        self._owner[response.response_id] = response.responder
        self._arrivals += 1
        self._live[response.responder] = (self._arrivals, response)
        if current is None:
            return Submitted()
        if live_id == response.response_id:
            return Submitted(modified=True)
        return Submitted(replaced=current[1])

    def cancel(self, responder: str, response_id: str, ts_ns: int) -> tuple[str | None, int]:
        """Withdraw ``responder``'s live ``response_id``: ``(reason, 0)`` when refused, else
        ``(None, its qty)``."""
        if not self.updates:
            return f"response_id: {FIRM}", 0
        if ts_ns >= self.spec.end_ns:
            return "ts_ns: after the auction window closed", 0
        owner = self._owner.get(response_id)
        if owner is None:
            return "response_id: unknown in this auction", 0
        if owner != responder:
            return "response_id: another responder's response", 0
        current = self._live.get(responder)
        if current is None or current[1].response_id != response_id:
            return "response_id: no longer live (canceled or replaced)", 0
        del self._live[responder]
        return None, current[1].qty

    def owner(self, response_id: str) -> str | None:
        """The responder that used ``response_id`` in this auction, if any."""
        return self._owner.get(response_id)

    def live(self) -> list[AuctionResponse]:
        """The live responses in arrival order (what ``clear`` ranks)."""
        return [response for _, response in sorted(self._live.values(), key=lambda e: e[0])]

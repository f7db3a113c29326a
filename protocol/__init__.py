"""flowlab wire protocol: every message type, declared once; the codec; the one error type."""

from protocol.auctions import (
    AuctionAllocation,
    AuctionCompleted,
    AuctionStarted,
    SubmitAuctionResponse,
)
from protocol.base import Message
from protocol.codec import ALL_MESSAGE_TYPES, VERSION, Decoder, encode, frames
from protocol.common import Liquidity, OrderType, Side, TimeInForce
from protocol.control import (
    Heartbeat,
    InjectionDone,
    PnlReport,
    Rejected,
    ServiceReady,
    ServiceStatus,
    Shutdown,
    StatusReply,
    StatusRequest,
    StopService,
)
from protocol.errors import ProtocolError
from protocol.marketdata import NBBO, Depth, Level, Quote, Snapshot, SnapshotRequest, Trade, ValueUpdate
from protocol.orders import (
    CancelOrder,
    CancelRejected,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderReceived,
    OrderRejected,
    OrderRouted,
    ReplaceOrder,
    RoutingScorecard,
    ScorecardEntry,
    SubmitOrder,
)

__all__ = [
    "ALL_MESSAGE_TYPES", "NBBO", "VERSION", "AuctionAllocation", "AuctionCompleted",
    "AuctionStarted", "CancelOrder", "CancelRejected", "Decoder", "Depth", "Heartbeat",
    "InjectionDone", "Level", "Liquidity", "Message", "OrderAccepted", "OrderCanceled",
    "OrderFilled", "OrderReceived", "OrderRejected", "OrderRouted", "OrderType", "PnlReport",
    "ProtocolError", "Quote", "Rejected", "ReplaceOrder", "RoutingScorecard", "ScorecardEntry", "ServiceReady", "ServiceStatus",
    "Shutdown", "Side", "Snapshot", "SnapshotRequest", "StatusReply", "StatusRequest",
    "StopService", "SubmitAuctionResponse", "SubmitOrder", "TimeInForce", "Trade", "ValueUpdate",
    "encode", "frames",
]

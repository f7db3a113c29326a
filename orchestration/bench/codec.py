"""Codec benchmark: typed msgspec decode / encode of a ``SubmitOrder`` (with the decoder the
broker's socket uses, validation included) against ``msgpack`` + a frozen, slotted dataclass +
the same field checks in Python (the alternative DESIGN §3 measured)."""

from __future__ import annotations

import enum
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import make_dataclass
from typing import Any, cast

import msgpack
import msgspec

from protocol.codec import Decoder, encode
from protocol.common import OrderType, Side, TimeInForce
from protocol.orders import CancelOrder, SubmitOrder


class CodecResult(msgspec.Struct, frozen=True, kw_only=True):
    """Operations per second (medians of ``reps`` runs of ``n``) and msgspec / baseline ratios."""

    n: int
    reps: int
    payload_bytes: int
    decode_ops_per_s: float
    baseline_decode_ops_per_s: float
    decode_ratio: float
    encode_ops_per_s: float
    baseline_encode_ops_per_s: float
    encode_ratio: float


def _checker(t: Any) -> Callable[[Any], bool]:
    """A Python predicate for one field type (ranges, lengths, patterns, enum values)."""
    mi = msgspec.inspect
    if isinstance(t, mi.UnionType):
        subs = tuple(_checker(x) for x in t.types)
        return lambda v: any(ok(v) for ok in subs)
    if isinstance(t, mi.NoneType):
        return lambda v: v is None
    if isinstance(t, mi.BoolType):
        return lambda v: type(v) is bool
    if isinstance(t, mi.IntType):
        lo = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -(2**63))
        hi = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else 2**64 - 1)
        return lambda v: type(v) is int and lo <= v <= hi
    if isinstance(t, mi.StrType):
        lo, hi = t.min_length or 0, t.max_length if t.max_length is not None else 1 << 62
        match = re.compile(t.pattern).search if t.pattern else None
        return lambda v: type(v) is str and lo <= len(v) <= hi and (match is None or bool(match(v)))
    if isinstance(t, mi.EnumType):
        values = frozenset(m.value for m in t.cls)
        return lambda v: isinstance(v, str) and v in values
    raise TypeError(f"cannot build a baseline check for {t!r}")


class PlainCodec:
    """The baseline codec DESIGN §3 measured: ``msgpack`` + a frozen, slotted dataclass + field
    checks in Python. Fields, defaults, ranges and patterns come from ``SubmitOrder`` itself, so
    the baseline checks what the typed decoder checks and follows the schema as it changes."""

    def __init__(self, struct: type = SubmitOrder) -> None:
        info = cast(msgspec.inspect.StructType, msgspec.inspect.type_info(struct))
        self.tag_field, self.tag = info.tag_field, info.tag
        self.fields = tuple(f.name for f in info.fields)
        self.required = tuple(f.name for f in info.fields if f.required)
        self.defaults = tuple(
            (f.name, f.default.value if isinstance(f.default, enum.Enum) else f.default)
            for f in info.fields
            if not f.required
        )
        self.checks = tuple((f.name, _checker(f.type)) for f in info.fields)
        self.known = frozenset((*self.fields, self.tag_field))
        spec = [(n, object) for n in self.required] + [
            (n, object, default) for n, default in self.defaults
        ]
        self.cls = make_dataclass(f"Plain{struct.__name__}", spec, frozen=True, slots=True)

    def decode(self, payload: bytes) -> Any:
        d = msgpack.unpackb(payload)
        if type(d) is not dict or d.get(self.tag_field) != self.tag:
            raise ValueError(f"{self.tag_field}: expected {self.tag!r}")
        unknown = d.keys() - self.known
        if unknown:
            raise ValueError(f"unknown field {sorted(unknown)[0]!r}")
        for name in self.required:
            if name not in d:
                raise ValueError(f"missing required field {name!r}")
        del d[self.tag_field]
        for name, default in self.defaults:
            if name not in d:
                d[name] = default
        for name, ok in self.checks:
            if not ok(d[name]):
                raise ValueError(f"{name}: invalid value {d[name]!r}")
        # SubmitOrder.__post_init__, in Python
        if d["order_type"] == "limit" and d["limit_price"] is None:
            raise ValueError("limit_price: required for limit orders")
        if d["order_type"] == "market" and d["limit_price"] is not None:
            raise ValueError("limit_price: must be absent for market orders")
        if d["min_qty"] > d["qty"]:
            raise ValueError("min_qty: larger than qty")
        return self.cls(**d)

    def encode(self, obj: Any) -> bytes:
        d = {self.tag_field: self.tag}
        for name in self.fields:
            d[name] = getattr(obj, name)
        return msgpack.packb(d)


def codec_sample() -> SubmitOrder:
    """A typical retail limit order with every common field set."""
    now = 1_763_900_000_000_000_000
    return SubmitOrder(
        msg_id=123,
        sender="injector",
        ts_ns=now,
        order_id="R0000123",
        symbol="ACME",
        side=Side.BUY,
        qty=200,
        order_type=OrderType.LIMIT,
        limit_price=52_400_000,
        tif=TimeInForce.DAY,
        account="retail-1",
        regime="pfof",
        created_ns=now,
    )


def _rate(fn: Callable[[int], None], n: int) -> float:
    t0 = time.perf_counter()
    fn(n)
    return n / (time.perf_counter() - t0)


def _codecs(order: SubmitOrder) -> tuple[bytes, Callable[[bytes], Any], PlainCodec, Any]:
    """``(payload, typed decode, plain codec, the plain decoding of payload)``, checked to agree."""
    payload = encode(order)
    typed = Decoder([SubmitOrder, CancelOrder]).decode_payload  # what the broker's socket accepts
    codec = PlainCodec()
    plain = codec.decode(payload)
    as_typed = msgspec.structs.asdict(typed(payload))
    if codec.decode(codec.encode(plain)) != plain or as_typed != {
        k: getattr(plain, k) for k in codec.fields
    }:
        raise RuntimeError("cannot trust codec benchmark: the two decoders disagree")
    return payload, typed, codec, plain


def bench_codec(*, n: int, reps: int) -> CodecResult:
    """Operations per second, median of ``reps`` round-robin runs of ``n`` each."""
    order = codec_sample()
    payload, typed, codec, plain = _codecs(order)
    plain_decode, plain_encode = codec.decode, codec.encode

    def msgspec_decode(k: int) -> None:
        for _ in range(k):
            typed(payload)

    def baseline_decode(k: int) -> None:
        for _ in range(k):
            plain_decode(payload)

    def msgspec_encode(k: int) -> None:
        for _ in range(k):
            encode(order)

    def baseline_encode(k: int) -> None:
        for _ in range(k):
            plain_encode(plain)

    variants = (msgspec_decode, baseline_decode, msgspec_encode, baseline_encode)
    rates: dict[str, list[float]] = {f.__name__: [] for f in variants}
    for _ in range(reps):
        for f in variants:
            rates[f.__name__].append(_rate(f, n))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return CodecResult(
        n=n,
        reps=reps,
        payload_bytes=len(payload),
        decode_ops_per_s=med["msgspec_decode"],
        baseline_decode_ops_per_s=med["baseline_decode"],
        decode_ratio=med["msgspec_decode"] / med["baseline_decode"],
        encode_ops_per_s=med["msgspec_encode"],
        baseline_encode_ops_per_s=med["baseline_encode"],
        encode_ratio=med["msgspec_encode"] / med["baseline_encode"],
    )

"""The value feed: a latent fundamental value per symbol, mean-reverting with Poisson jumps.

Log value follows an Ornstein-Uhlenbeck process around the reference price (half-life and
volatility from the scenario) plus compound-Poisson jumps, one seeded generator per symbol.
With ``vol_of_vol`` > 0 the volatility is itself stochastic: its log follows an OU process
(``vol_half_life_s``), scaled so that the mean variance stays ``vol_bps_per_sqrt_s`` squared —
volatility that clusters in time, and returns whose tails are heavier than the normal's
(the stylized facts it serves: docs/MARKET.md). With a session clock (``[session]``) the
diffusion's volatility follows the day's profile (services/session.py).
Published on PUB ``md`` with a sequence number; ``snapshot`` serves late joiners.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import zmq

from protocol.codec import Decoder, encode
from protocol.marketdata import Snapshot, SnapshotRequest, ValueUpdate
from services.runtime import Service
from services.session import SessionClock


class ValueProcess:
    """Pure core: one symbol's latent value, advanced by ``step(dt_s)``; micro-dollars out."""

    def __init__(
        self,
        reference: int,
        rng: np.random.Generator,
        *,
        vol_bps_per_sqrt_s: float,
        half_life_s: float,
        jump_rate_per_s: float,
        jump_bps: float,
        vol_of_vol: float = 0.0,
        vol_half_life_s: float = 60.0,
    ) -> None:
        self.anchor = math.log(reference)
        self.log_value = self.anchor
        self.rng = rng
        self.sigma = vol_bps_per_sqrt_s / 1e4
        self.kappa = math.log(2.0) / half_life_s
        self.jump_rate = jump_rate_per_s
        self.jump_size = jump_bps / 1e4
        # log-volatility deviation x ~ OU(kappa_v, eta): stationary variance eta^2 / (2 kappa_v);
        # sigma_t = sigma exp(x - var) keeps E[sigma_t^2] = sigma^2 (E exp(2x) = exp(2 var)).
        self.vol_of_vol = vol_of_vol
        self.vol_kappa = math.log(2.0) / vol_half_life_s
        self.log_vol_var = vol_of_vol**2 / (2.0 * self.vol_kappa)
        self.log_vol = (
            float(rng.normal(0.0, math.sqrt(self.log_vol_var))) if vol_of_vol > 0 else 0.0
        )

    @property
    def volatility(self) -> float:
        """The current volatility (per sqrt second, as a fraction)."""
        if self.vol_of_vol <= 0:
            return self.sigma
        return self.sigma * math.exp(self.log_vol - self.log_vol_var)

    @property
    def value(self) -> int:
        return max(1, round(math.exp(self.log_value)))

    def step(self, dt_s: float, vol_scale: float = 1.0) -> int:
        """Advance ``dt_s`` seconds; ``vol_scale`` multiplies the diffusion's volatility (the
        session clock's, services/session.py)."""
        decay = math.exp(-self.kappa * dt_s)
        sd = vol_scale * self.volatility * math.sqrt((1.0 - decay * decay) / (2.0 * self.kappa))
        self.log_value = (
            self.anchor + (self.log_value - self.anchor) * decay + sd * self.rng.standard_normal()
        )
        jumps = self.rng.poisson(self.jump_rate * dt_s)
        if jumps:
            self.log_value += float(self.rng.normal(0.0, self.jump_size, size=jumps).sum())
        if self.vol_of_vol > 0:  # the next step's volatility (no draw at all when constant)
            vol_decay = math.exp(-self.vol_kappa * dt_s)
            vol_sd = math.sqrt(self.log_vol_var * (1.0 - vol_decay * vol_decay))
            self.log_vol = self.log_vol * vol_decay + vol_sd * self.rng.standard_normal()
        return self.value


class ValueFeed(Service):
    role = "value"

    async def _setup(self) -> None:
        cfg = self.scenario.value
        self.processes = {
            s.symbol: ValueProcess(
                s.price_micros,
                self.rng(f"value:{s.symbol}"),
                vol_bps_per_sqrt_s=cfg.vol_bps_per_sqrt_s,
                half_life_s=cfg.half_life_s,
                jump_rate_per_s=cfg.jump_rate_per_s,
                jump_bps=cfg.jump_bps,
                vol_of_vol=cfg.vol_of_vol,
                vol_half_life_s=cfg.vol_half_life_s,
            )
            for s in self.scenario.symbols
        }
        self.session = SessionClock(self.scenario.session, self.config.session_origin_ns)
        self.seq = 0
        self.last: dict[str, ValueUpdate] = {}
        self.pub = self.bind("md", zmq.PUB)
        self.pub_link = self.link(self.pub, "*")
        self.publish_sequence(self.pub_link, "values", lambda: self.seq)
        self.snap = self.bind("snapshot", zmq.ROUTER)
        self.serve(
            self.snap, Decoder([SnapshotRequest]), self._on_snapshot, router=True, name="snapshot"
        )
        for symbol, process in self.processes.items():
            self._publish(symbol, process.value)

    def _publish(self, symbol: str, value: int) -> None:
        self.seq += 1
        update = self.make(ValueUpdate, symbol=symbol, seq=self.seq, value=value)
        self.last[symbol] = update
        payload = encode(update)
        self.pub_link.send(payload)
        self.tape(payload)

    def _on_snapshot(self, identity: bytes | None, msg: SnapshotRequest, _recv_ns: int) -> None:
        snap = self.make(Snapshot, stream=msg.stream, seq=self.seq, values=list(self.last.values()))
        self.reply_link(self.snap, identity).send(encode(snap))  # type: ignore[arg-type]

    async def _on_running(self) -> None:
        self.spawn(self._tick(), "tick")

    async def _tick(self) -> None:
        dt = self.scenario.value.tick_ms / 1000.0
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += dt
            await asyncio.sleep(max(0.0, next_t - loop.time()))
            scale = self.session.volatility()
            for symbol, process in self.processes.items():
                self._publish(symbol, process.step(dt, scale))

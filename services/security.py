"""CURVE keys, ZAP admission and authenticated identities (issue 13 items 1-2, docs/SECURITY.md).

Every run has its own keys in ``RUN_DIR/keys`` in pyzmq's certificate format (``zmq.auth``):
one pair per service, one for the orchestrator, the operator (the ``flowlab`` CLI), the
injectors, and one per client of ``[security] clients`` (``client.key`` / ``client.key_secret``).
Secret files are 0600, the keys directory and the run directory 0700.

The side that binds is the CURVE server; a connecting side names the server's public key, so it
talks only to the real publisher or order taker. The server's ZAP handler (RFC 27, in
``serve_zap``) admits a connecting key by the socket's domain, the endpoint kind: ``control``
and ``tape`` admit only the lab's own keys, every other endpoint the lab's and the clients'.
libzmq then stamps each received message with the admitted key's name as ``User-Id``.

Identities: a routing id that names a lab service (``broker``, ``wh-a``, ``sip#nbbo``) or an
injector (``injector``, ``injector-42``) is accepted only with that key (``identity_error``);
the services' role decisions (who is the broker, the SOR, a wholesaler) read the routing id, so
they are authenticated by this check. Clients' orders are scoped to their key and routing id.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import zmq
import zmq.asyncio
import zmq.auth
from zmq.utils import z85

from config.runconfig import RunConfig
from config.scenario import ScenarioError, SecurityMode

log = logging.getLogger(__name__)

KEYS_DIR = "keys"
ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ORCHESTRATOR = "orchestrator"
OPERATOR = "operator"  # the flowlab CLI (status, down) and the dashboard
INJECTOR = "injector"  # every injector process (injector, injector-<pid>, injector-api-1)
LAB_ONLY_DOMAINS = frozenset({"control", "tape"})
# Handshake failures a bound socket's monitor counts: a peer without keys (a refused key is
# counted by the ZAP handler, which knows why).
HANDSHAKE_FAILURES = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL


def curve_enabled(config: RunConfig) -> bool:
    return config.scenario.security.mode is SecurityMode.CURVE


def lab_key_names(config: RunConfig) -> list[str]:
    """The lab's own keys: every service, the orchestrator, the operator, the injectors."""
    return [s.name for s in config.services] + [ORCHESTRATOR, OPERATOR, INJECTOR]


def key_names(config: RunConfig) -> list[str]:
    return lab_key_names(config) + list(config.scenario.security.clients)


def keys_dir(config: RunConfig) -> Path:
    return Path(config.run_dir) / KEYS_DIR


def create_keys(config: RunConfig) -> Path:
    """Write a key pair for every name of ``key_names`` not there yet; returns the directory.

    The run directory and the keys directory become 0700, every secret file 0600."""
    directory = keys_dir(config)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory.parent, 0o700)
    os.chmod(directory, 0o700)
    for name in key_names(config):
        if not (directory / f"{name}.key_secret").exists():
            _public, secret = zmq.auth.create_certificates(directory, name)
            os.chmod(secret, 0o600)
    return directory


@dataclass(frozen=True)
class KeyRing:
    """The run's public keys by name, which of them are the lab's own, and where secrets are."""

    directory: Path
    publics: dict[str, bytes]
    lab: frozenset[str]

    @classmethod
    def load(cls, directory: Path, names: Iterable[str], lab: Iterable[str]) -> KeyRing:
        publics: dict[str, bytes] = {}
        for name in names:
            path = directory / f"{name}.key"
            try:
                public, _ = zmq.auth.load_certificate(path)
            except (OSError, ValueError) as exc:
                raise ScenarioError(f"cannot load key {path}: {exc}") from exc
            publics[name] = public
        return cls(directory, publics, frozenset(lab))

    @classmethod
    def of(cls, config: RunConfig) -> KeyRing:
        return cls.load(keys_dir(config), key_names(config), lab_key_names(config))

    def secret(self, name: str) -> tuple[bytes, bytes]:
        """``(public, secret)`` of ``name``; the secret file must be readable by this process."""
        path = self.directory / f"{name}.key_secret"
        try:
            public, secret = zmq.auth.load_certificate(path)
        except (OSError, ValueError) as exc:
            raise ScenarioError(f"cannot load key {path}: {exc}") from exc
        if secret is None:
            raise ScenarioError(f"cannot load key {path}: no secret key in it")
        return public, secret

    def name_of(self, public: bytes) -> str | None:
        """The name of a public key, raw (32 bytes, as ZAP gives it) or Z85 (as files hold it)."""
        if len(public) == 32:
            public = z85.encode(public)
        for name, key in self.publics.items():
            if key == public:
                return name
        return None

    def admitted(self, domain: str) -> frozenset[str]:
        """Key names a server socket of ``domain`` (its endpoint kind) lets connect."""
        return self.lab if domain in LAB_ONLY_DOMAINS else frozenset(self.publics)

    def owner_of(self, routing_id: bytes) -> str | None:
        """The lab key a routing id belongs to (``sip#nbbo`` -> ``sip``), None for a client's."""
        base = routing_id.decode(errors="replace").partition("#")[0]
        if base in self.lab:
            return base
        if base.startswith(f"{INJECTOR}-"):
            return INJECTOR
        return None


def identity_error(ring: KeyRing, routing_id: bytes, user: str | None) -> str | None:
    """Why a message with ``routing_id`` sent with key ``user`` is refused, or None."""
    owner = ring.owner_of(routing_id)
    if owner is not None and owner != user:
        return (
            f"routing id {routing_id[:64]!r} belongs to the lab's {owner!r}; "
            f"this connection's key is {user!r}"
        )
    return None


def responder_error(ring: KeyRing, responder: str, user: str | None, agents: str) -> str | None:
    """Why an auction response naming ``responder`` may not come with key ``user``, or None.

    A response names its own key (a wholesaler ``wh-a``, a client ``alice``); only the agents
    service answers for responders of other names (its market makers ``amm-0``, ...)."""
    if responder == user or (user == agents and responder not in ring.lab):
        return None
    return f"responder: {responder[:64]!r} is not the sender's (key {user!r})"


def zap_reply(request: list[bytes], ring: KeyRing) -> tuple[list[bytes], str | None]:
    """The ZAP reply (RFC 27) to ``request`` and, when refused, why.

    Request: version, request id, domain, address, identity, mechanism, credentials (CURVE: the
    client's 32-byte public key). Reply: version, request id, status, text, user id, metadata.
    """
    if len(request) < 6 or request[0] != b"1.0":
        return [
            b"1.0",
            request[1] if len(request) > 1 else b"",
            b"500",
            b"bad request",
            b"",
            b"",
        ], ("malformed ZAP request")
    request_id, domain, address, mechanism = request[1], request[2], request[3], request[5]
    where = f"{domain.decode(errors='replace')} from {address.decode(errors='replace')}"
    if mechanism != b"CURVE" or len(request) < 7:
        reason = f"mechanism {mechanism[:16]!r} refused on {where}"
    elif (name := ring.name_of(request[6])) is None:
        reason = f"unknown key on {where}"
    elif name not in ring.admitted(domain.decode(errors="replace")):
        reason = f"key {name!r} not admitted on {where}"
    else:
        return [b"1.0", request_id, b"200", b"OK", name.encode(), b""], None
    return [b"1.0", request_id, b"400", reason.encode()[:200], b"", b""], reason


def secure_server(sock: zmq.Socket, ring: KeyRing, name: str, domain: str) -> None:
    """Make ``sock`` (about to bind) a CURVE server of ZAP domain ``domain`` with ``name``'s key."""
    _public, secret = ring.secret(name)
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())


def secure_client(sock: zmq.Socket, ring: KeyRing, name: str, server: str) -> None:
    """Make ``sock`` (about to connect) a CURVE client with ``name``'s key towards ``server``."""
    public, secret = ring.secret(name)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_SERVERKEY, ring.publics[server])


def user_of(frame: zmq.Frame) -> str | None:
    """The admitted key's name libzmq attached to a received message (None without CURVE)."""
    try:
        user = frame.get("User-Id")
    except zmq.ZMQError:
        return None
    return user if isinstance(user, str) else None


def frames_and_user(parts: Sequence[bytes | zmq.Frame]) -> tuple[list[bytes], str | None]:
    """A received message as bytes, with its key's name when it was read as frames."""
    if parts and isinstance(parts[-1], zmq.Frame):
        return [p if isinstance(p, bytes) else p.bytes for p in parts], user_of(parts[-1])
    return [p for p in parts if isinstance(p, bytes)], None


class ZapCounter:
    """Counts refused handshakes into a counters dict; logs the first few and every 1,000th."""

    def __init__(self, counters: dict[str, int], owner: str) -> None:
        self.counters = counters
        self.owner = owner

    def refused(self, key: str, reason: str) -> None:
        n = self.counters[key] = self.counters.get(key, 0) + 1
        if n <= 10 or n % 1_000 == 0:
            log.warning("%s: cannot admit a connection (%s: %d): %s", self.owner, key, n, reason)


async def serve_zap(sock: zmq.asyncio.Socket, ring: KeyRing, counter: ZapCounter) -> None:
    """Answer ZAP requests on ``sock`` (a REP bound to ``ZAP_ENDPOINT``) until canceled."""
    while True:
        request = await sock.recv_multipart()
        reply, refused = zap_reply(request, ring)
        if refused is not None:
            counter.refused("auth.denied", refused)
        await sock.send_multipart(reply)


async def count_handshake_failures(monitor: zmq.asyncio.Socket, counter: ZapCounter) -> None:
    """Count failed handshakes reported by a bound socket's monitor (a peer without keys)."""
    while True:
        frames = await monitor.recv_multipart()
        event = int.from_bytes(frames[0][:2], "little")
        if event & HANDSHAKE_FAILURES:
            endpoint = frames[1].decode(errors="replace") if len(frames) > 1 else "?"
            counter.refused("auth.handshake_failed", f"handshake failed on {endpoint}")


def authenticate(sock: zmq.Socket, config: RunConfig, key: str, server: str) -> None:
    """Give an outside client's socket (the CLI, a test, a benchmark) key ``key`` towards
    ``server`` when the run uses CURVE; nothing to do otherwise. Call before ``connect``."""
    if curve_enabled(config):
        secure_client(sock, KeyRing.of(config), key, server)

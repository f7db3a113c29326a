"""CURVE keys and the pure admission rules of ``services/security.py`` (docs/SECURITY.md)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import zmq
from zmq.utils import z85

from config.runconfig import RunConfig
from config.scenario import ScenarioError, load_scenario, scenario_from_dict
from orchestration.endpoints import resolve_loopback
from services.security import (
    KeyRing,
    create_keys,
    identity_error,
    key_names,
    responder_error,
    zap_reply,
)


@pytest.fixture
def config(tmp_path: Path) -> RunConfig:
    return resolve_loopback(load_scenario(), tmp_path / "run")


@pytest.fixture
def ring(config: RunConfig) -> KeyRing:
    create_keys(config)
    return KeyRing.of(config)


def zap_request(domain: bytes, *credentials: bytes, mechanism: bytes = b"CURVE") -> list[bytes]:
    return [b"1.0", b"7", domain, b"127.0.0.1", b"", mechanism, *credentials]


def raw(ring: KeyRing, name: str) -> bytes:
    return z85.decode(ring.publics[name])


def test_create_keys_writes_a_pair_per_service_and_client_secrets_private(
    config: RunConfig,
) -> None:
    directory = create_keys(config)

    for name in key_names(config):
        assert (directory / f"{name}.key").is_file()
        secret = directory / f"{name}.key_secret"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert {"broker", "wh-a", "client", "operator", "injector"} <= set(key_names(config))
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(directory.parent.stat().st_mode) == 0o700


def test_create_keys_twice_keeps_the_first_keys(config: RunConfig) -> None:
    create_keys(config)
    first = KeyRing.of(config).publics

    create_keys(config)

    assert KeyRing.of(config).publics == first


def test_zap_admits_a_lab_key_on_control_with_its_name_as_user_id(ring: KeyRing) -> None:
    reply, refused = zap_reply(zap_request(b"control", raw(ring, "wh-a")), ring)

    assert refused is None
    assert reply == [b"1.0", b"7", b"200", b"OK", b"wh-a", b""]


def test_zap_refuses_a_client_key_on_control_and_tape(ring: KeyRing) -> None:
    for domain in (b"control", b"tape"):
        reply, refused = zap_reply(zap_request(domain, raw(ring, "client")), ring)

        assert reply[2] == b"400"
        assert refused == f"key 'client' not admitted on {domain.decode()} from 127.0.0.1"


def test_zap_admits_a_client_key_on_orders(ring: KeyRing) -> None:
    reply, refused = zap_reply(zap_request(b"orders", raw(ring, "client")), ring)

    assert (reply[2], reply[4], refused) == (b"200", b"client", None)


def test_zap_refuses_a_key_of_another_run(ring: KeyRing) -> None:
    stranger, _secret = zmq.curve_keypair()

    reply, refused = zap_reply(zap_request(b"orders", z85.decode(stranger)), ring)

    assert reply[2] == b"400"
    assert refused == "unknown key on orders from 127.0.0.1"


def test_zap_refuses_other_mechanisms_and_malformed_requests(ring: KeyRing) -> None:
    null_reply, null_refused = zap_reply(zap_request(b"orders", mechanism=b"NULL"), ring)
    bad_reply, bad_refused = zap_reply([b"0.9", b"1"], ring)

    assert null_reply[2] == b"400" and null_refused is not None and "NULL" in null_refused
    assert bad_reply[:3] == [b"1.0", b"1", b"500"] and bad_refused == "malformed ZAP request"


def test_identity_error_refuses_a_lab_routing_id_with_another_key(ring: KeyRing) -> None:
    assert identity_error(ring, b"broker", "broker") is None
    assert identity_error(ring, b"sip#nbbo", "sip") is None
    assert identity_error(ring, b"injector-42", "injector") is None
    assert identity_error(ring, b"alice", "client") is None
    refused = identity_error(ring, b"broker", "client")
    assert (
        refused
        == "routing id b'broker' belongs to the lab's 'broker'; this connection's key is 'client'"
    )
    assert identity_error(ring, b"broker#x", "client") is not None
    assert identity_error(ring, b"injector-7", "client") is not None


def test_responder_error_lets_a_response_name_only_its_own_key(ring: KeyRing) -> None:
    assert responder_error(ring, "wh-a", "wh-a", "agents") is None
    assert responder_error(ring, "amm-0", "agents", "agents") is None
    assert responder_error(ring, "client", "client", "agents") is None
    assert responder_error(ring, "wh-a", "client", "agents") == (
        "responder: 'wh-a' is not the sender's (key 'client')"
    )
    assert responder_error(ring, "wh-a", "agents", "agents") is not None
    assert responder_error(ring, "amm-0", "client", "agents") is not None


def test_security_clients_refuse_reserved_and_service_names() -> None:
    base = {
        "name": "x",
        "symbols": [{"symbol": "ACME", "price": 10.0}],
        "venues": [{"name": "lit-a"}],
    }
    for clients, word in ((["operator"], "keeps"), (["lit-a"], "service"), ([], "at least")):
        with pytest.raises(ScenarioError, match=rf"security\.clients: .*{word}"):
            scenario_from_dict(base | {"security": {"clients": clients}})
    with pytest.raises(ScenarioError, match=r"security\.mode"):
        scenario_from_dict(base | {"security": {"mode": "plain"}})

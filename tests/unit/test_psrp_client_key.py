"""A run's runspace pools share one client key pair for PSRP's key exchange (engine/transport/psrp.py ClientKey),
as Windows PowerShell's client does: made once, sent as pypsrp sends its own."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from pypsrp import powershell
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from exconf.transport.psrp import ClientKey, _SharedKeyPool

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _Fragmenter:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def fragment(self, msg: Any, rpid: Any) -> list[bytes]:
        self.sent.append(msg)
        return []


def _exchange(pool: RunspacePool) -> str:
    """Run the pool's key exchange against a server that answers at once; the public key it sent."""
    fragmenter = _Fragmenter()
    pool._fragmenter = fragmenter  # type: ignore[assignment]

    def receive(*_: Any, **__: Any) -> None:
        pool._key_exchanged = True

    pool._receive = receive  # type: ignore[method-assign]
    pool.exchange_keys()
    (msg,) = fragmenter.sent
    return msg.public_key


def _wsman() -> WSMan:
    return WSMan("127.0.0.1", port=1, auth="basic", username="u", password="p", ssl=False, encryption="never")


def test_the_shared_pool_sends_the_public_key_pypsrp_sends_for_the_same_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(powershell.rsa, "generate_private_key", lambda **_: KEY)
    stock = _exchange(RunspacePool(_wsman()))
    shared = _exchange(_SharedKeyPool(_wsman(), ClientKey(lambda: KEY)))
    assert shared == stock
    # and pypsrp decrypts the server's session key with that key (the pool holds it until the answer came)
    pool = _SharedKeyPool(_wsman(), ClientKey(lambda: KEY))
    _exchange(pool)
    assert pool._exchange_key is KEY


def test_one_key_pair_is_made_for_every_pool_of_a_run_even_when_they_ask_at_once():
    made: list[rsa.RSAPrivateKey] = []

    def generate() -> rsa.RSAPrivateKey:
        made.append(KEY)
        return KEY

    client_key = ClientKey(generate)
    sent: list[str] = []
    threads = [threading.Thread(target=lambda: sent.append(_exchange(_SharedKeyPool(_wsman(), client_key)))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and len(sent) == 8 and len(set(sent)) == 1


def test_two_runs_do_not_share_a_key():
    assert ClientKey().pair()[1] != ClientKey().pair()[1]


def test_a_pool_whose_key_was_exchanged_sends_nothing_again():
    pool = _SharedKeyPool(_wsman(), ClientKey(lambda: KEY))
    _exchange(pool)
    fragmenter = _Fragmenter()
    pool._fragmenter = fragmenter  # type: ignore[assignment]
    pool.exchange_keys()
    assert fragmenter.sent == []

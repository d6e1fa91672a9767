"""A waiting host's early key exchange (PSRPTransport.keep_alive_with_keys): when and only when it helps, and a
failed one is reported by the pipeline that needed the key, which then sends nothing."""

from __future__ import annotations

import types

import pytest

from exconf.transport import TransportError
from exconf.transport.psrp import PSRPSettings, PSRPTransport, SecureText

SETTINGS = PSRPSettings(host="127.0.0.1", port=80, scheme="http", path="PowerShell", auth="kerberos", user="u@CONTOSO.LAB",
                        password="p", cert_validation=True, ca_trust_path=None, message_encryption="auto",
                        configuration_name="Microsoft.Exchange", operation_timeout=20, read_timeout=30, connection_timeout=30,
                        server_name="ex01.contoso.lab")


class _Pool:
    def __init__(self, fails: bool):
        self.fails, self.exchanges = fails, 0

    def exchange_keys(self) -> None:
        self.exchanges += 1
        if self.fails:
            raise ConnectionResetError("the server closed the connection")


def _kept(idle: float, fails: bool = False) -> tuple[PSRPTransport, _Pool, list[float]]:
    """A transport whose pool was opened and read on ``idle`` seconds ago, its connection still held."""
    now = [1000.0]
    transport = PSRPTransport(SETTINGS, clock=lambda: now[0])
    pool = _Pool(fails)
    transport._pool = pool  # type: ignore[assignment]
    transport._wsman = types.SimpleNamespace(transport=types.SimpleNamespace(session=object()))  # type: ignore[assignment]
    transport._last_used = now[0] - idle
    return transport, pool, now


@pytest.mark.parametrize("idle, exchanged", [(10.0, False), (50.0, True), (89.0, True), (95.0, False)])
def test_the_key_is_exchanged_only_within_lead_of_the_margin(idle, exchanged):
    transport, pool, _ = _kept(idle)  # margin: 90 s of 120
    assert transport.keep_alive_with_keys(45.0) is exchanged
    assert pool.exchanges == int(exchanged)
    assert transport.keep_alive_with_keys(45.0) is False  # once
    assert pool.exchanges == int(exchanged)


def test_a_failed_early_exchange_is_what_the_pipeline_needing_the_key_reports_and_it_sends_nothing():
    transport, pool, _ = _kept(60.0, fails=True)
    assert transport.keep_alive_with_keys(45.0) is False
    early = transport._key_failure
    transport._ensure_pool = lambda: pool  # type: ignore[method-assign]
    with pytest.raises(TransportError) as failed:
        transport.run([("Import-ExchangeCertificate", [("FileData", b"pfx"), ("Password", SecureText(lambda: "x"))])], changes=True)
    assert failed.value is early and not failed.value.result_unknown  # reported as not sent
    assert "http://127.0.0.1:80/PowerShell" in str(failed.value) and "key exchange" in str(failed.value)
    assert pool.exchanges == 1  # not tried again on a pool holding half an exchange

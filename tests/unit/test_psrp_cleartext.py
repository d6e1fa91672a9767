"""Issue 14 over Exchange remote PowerShell: ``ansible_psrp_message_encryption: never`` over http is refused when
the inventory loads unless accepted, never for a host given a secret, and no command carrying a secret is
handed to a remote PowerShell session reached in clear (the executor refuses before anything is sent)."""

from __future__ import annotations

import pytest

from exconf.connection import cleartext_connection
from exconf.psrp_executor import PSRPExecutor
from exconf.remote import Secret, Step
from exconf.transport.cleartext import ACCEPT_VAR, CleartextRefused

MAILBOX = {"ansible_user": "CONTOSO\\exadmin", "ansible_password": "p"}


def test_never_over_http_is_refused_for_remote_powershell_unless_accepted():
    (variable, problem), = cleartext_connection({**MAILBOX, "ansible_psrp_message_encryption": "never"})
    assert variable == "ansible_psrp_message_encryption" and "in clear" in problem and ACCEPT_VAR in problem
    assert cleartext_connection({**MAILBOX, "ansible_psrp_message_encryption": "never", ACCEPT_VAR: True}) == []
    assert cleartext_connection({**MAILBOX, "ansible_psrp_message_encryption": "never", "ansible_psrp_protocol": "https"}) == []
    assert cleartext_connection({**MAILBOX, "ansible_psrp_message_encryption": "auto"}) == []


def test_a_host_given_a_secret_is_refused_even_when_accepted():
    declared = {"certificates": [{"match": {"subject": "CN=x"}, "import": {"pfx": "x.pfx", "password_env": "PW"}}]}
    (variable, problem), = cleartext_connection({**MAILBOX, "ansible_psrp_message_encryption": "never", ACCEPT_VAR: True, "exchange": declared})
    assert variable == "ansible_psrp_message_encryption" and "password_env" in problem


class Untouchable:
    """A transport that must never be used."""

    def __getattr__(self, name):
        raise AssertionError(f"the transport was used ({name}) for a command that must not be sent")


def test_the_executor_refuses_a_secret_for_a_host_reached_in_clear_before_sending():
    executor = PSRPExecutor(Untouchable(), "EX01", in_clear=True, endpoint="http://ex01:80/PowerShell")  # type: ignore[arg-type]
    step = Step("s", "Import-ExchangeCertificate", {"FileData": b"\x30\x82", "Password": Secret.from_value("x")})
    with pytest.raises(CleartextRefused, match="reached in clear"):
        executor.execute([step], halt_on_error=True)

"""Which door a host takes, known before it is contacted (engine/door.py, docs/remote-powershell.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from exconf.connection import ConnectionConfigError, psrp_settings_for, settings_for
from exconf.door import DoorError, door_of
from exconf.inventory import InventoryError, load
from exconf.inventorycli import inventory_main


def test_a_mailbox_server_gets_remote_powershell_and_an_edge_the_program():
    assert door_of("ex01.contoso.com", {"ansible_user": "CONTOSO\\exadmin"}).connection == "psrp"
    edge = door_of("edge01.dmz.contoso.com", {"exconf_role": "Edge"})
    assert (edge.connection, edge.role) == ("winrm", "Edge") and "exconf_role: Edge" in edge.why


def test_an_edge_is_recognised_by_its_subscription_or_its_local_account():
    assert door_of("edge01", {"exchange": {"edge_subscription": {"site": "Amsterdam"}}}).role == "Edge"
    assert door_of("edge01.dmz.contoso.com", {"ansible_user": "EDGE01\\Administrator"}).connection == "winrm"
    assert door_of("10.0.0.5", {"ansible_user": ".\\Administrator"}).role == "Edge"
    # a domain account of a host with another name is not local
    assert door_of("ex01.contoso.com", {"ansible_user": "EDGE01\\Administrator"}).role == "Mailbox"
    # exconf_role wins over the guesses
    assert door_of("edge01", {"exconf_role": "Mailbox", "ansible_user": "EDGE01\\x"}).connection == "psrp"


def test_explicit_connections_are_kept_and_psrp_on_an_edge_is_refused():
    assert door_of("ex01", {"ansible_connection": "winrm"}).connection == "winrm"
    assert door_of("ex01", {"ansible_connection": "psrp"}).connection == "psrp"
    with pytest.raises(DoorError) as refused:
        door_of("edge01", {"ansible_connection": "psrp", "exconf_role": "Edge"})
    assert refused.value.variable == "ansible_connection" and "set it to winrm" in str(refused.value)
    with pytest.raises(DoorError):
        door_of("ex01", {"ansible_connection": "ssh"})


INVENTORY = """
all:
  vars: {ansible_user: CONTOSO\\\\exadmin, ansible_password: x}
  hosts:
    ex01.contoso.com: {ansible_host: 10.0.0.1}
    edge01.dmz.contoso.com: {ansible_connection: psrp, exconf_role: Edge}
"""


def test_psrp_on_an_edge_is_refused_when_the_inventory_loads(tmp_path):
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY, encoding="utf-8")
    with pytest.raises(InventoryError) as raised:
        load([path])
    (issue,) = raised.value.issues
    assert issue.path == "ansible_connection" and "inventory.yaml:6:" in str(issue) and "winrm" in str(issue)


def _host(tmp_path: Path, text: str):
    path = tmp_path / "inventory.yaml"
    path.write_text(text, encoding="utf-8")
    return load([path]).hosts[0], tmp_path


def test_psrp_settings_default_to_exchanges_endpoint(tmp_path):
    host, base = _host(tmp_path, "all:\n  hosts:\n    ex01.contoso.com: {ansible_user: 'CONTOSO\\\\exadmin', ansible_password: x}\n")
    s = psrp_settings_for(host, base, env={})
    assert s.endpoint == "http://ex01.contoso.com:80/PowerShell"
    # Negotiate with a DOMAIN\\user name could only end in NTLM (MIT Kerberos has no such principal): NTLM at once,
    # without asking the default realm's KDC (and DNS) first.
    assert (s.configuration_name, s.auth, s.server_name, s.message_encryption) == ("Microsoft.Exchange", "ntlm", "ex01.contoso.com", "auto")
    assert settings_for(host, base, env={}).endpoint == "http://ex01.contoso.com:5985/wsman"  # asked for explicitly


def test_negotiate_tries_kerberos_only_with_a_principal_name(tmp_path):
    host, base = _host(tmp_path, "all:\n  hosts:\n    ex01.contoso.com: {ansible_user: exadmin@contoso.com, ansible_password: x}\n")
    s = psrp_settings_for(host, base, env={})
    assert (s.auth, s.user) == ("negotiate", "exadmin@CONTOSO.COM")
    # NTLM forbidden: negotiate is Kerberos, which refuses a DOMAIN\\user name, naming the host
    host, base = _host(tmp_path, "all:\n  hosts:\n    ex01.contoso.com: {ansible_user: 'CONTOSO\\\\exadmin', ansible_password: x, "
                                 "exconf_forbid_ntlm: true}\n")
    with pytest.raises(ConnectionConfigError, match=r"ex01.contoso.com: .*Kerberos needs user@REALM"):
        psrp_settings_for(host, base, env={})


def test_psrp_settings_take_ansibles_names(tmp_path):
    host, base = _host(tmp_path, """
all:
  hosts:
    ex01.contoso.com:
      ansible_host: 10.0.0.1
      ansible_user: CONTOSO\\exadmin
      exconf_password_env: EXPW
      ansible_psrp_protocol: https
      ansible_psrp_path: /PowerShell/
      ansible_psrp_cert_validation: ignore
      ansible_psrp_auth: ntlm
      ansible_psrp_operation_timeout: 5
""".lstrip())
    s = psrp_settings_for(host, base, env={"EXPW": "pw"})
    assert s.endpoint == "https://10.0.0.1:443/PowerShell" and not s.cert_validation and s.auth == "ntlm"
    assert s.password == "pw" and s.read_timeout > s.operation_timeout and "pw" not in repr(s)


def test_ansible_port_is_the_psrp_port_only_when_psrp_is_asked_for(tmp_path):
    # Without ansible_connection the port an inventory gives was written for WinRM (exconf's only door
    # before), where Exchange serves no /PowerShell; ansible_psrp_port is always remote PowerShell's.
    host, base = _host(tmp_path, "all:\n  hosts:\n    ex01.contoso.com: {ansible_user: u, ansible_password: x, ansible_port: 5986}\n")
    assert psrp_settings_for(host, base, env={}).endpoint == "http://ex01.contoso.com:80/PowerShell"
    host, base = _host(tmp_path, "all:\n  hosts:\n    ex01.contoso.com: {ansible_user: u, ansible_password: x, "
                                 "ansible_connection: psrp, ansible_port: 443}\n")
    assert psrp_settings_for(host, base, env={}).endpoint == "https://ex01.contoso.com:443/PowerShell"


@pytest.mark.parametrize("variables, message", [
    ("ansible_psrp_auth: credssp", "hands your password"),
    ("ansible_psrp_auth: basic", "sends the password in clear"),
])
def test_psrp_authentications_exconf_refuses(tmp_path, variables, message):
    path = tmp_path / "inventory.yaml"
    path.write_text(f"all:\n  hosts:\n    ex01:\n      ansible_user: u\n      ansible_password: p\n      {variables}\n", encoding="utf-8")
    with pytest.raises(InventoryError) as raised:
        load([path])
    assert message in str(raised.value.issues[0])


def test_inventory_host_says_which_door_and_why(tmp_path, capsys):
    path = tmp_path / "inventory.yaml"
    path.write_text(INVENTORY.replace("ansible_connection: psrp, ", ""), encoding="utf-8")
    import argparse

    args = argparse.Namespace(inventory=path, inventories=[], limit=None, extra_vars=[], vault_password_files=[],
                              ask_vault_pass=False, vault_ids=[], host="ex01.contoso.com", list=False, graph=None,
                              vars=False, provenance=False)
    assert inventory_main(args) == 0
    out, err = capsys.readouterr()
    assert "ansible_host" in out and "exconf_door" not in out  # stdout stays what ansible-inventory prints
    assert "remote PowerShell" in err and "http://10.0.0.1:80/PowerShell" in err
    args.host = "edge01.dmz.contoso.com"
    assert inventory_main(args) == 0
    assert "WinRM" in capsys.readouterr().err


def test_a_host_named_by_its_address_cannot_take_remote_powershell(tmp_path):
    # the cmdlets are told which server is meant by the inventory name: an address names none
    path = tmp_path / "inventory.yaml"
    path.write_text("all:\n  hosts:\n    10.0.0.5: {ansible_user: 'CONTOSO\\\\x', ansible_password: p}\n"
                    "    10.0.0.6: {ansible_user: 'CONTOSO\\\\x', ansible_password: p, ansible_connection: winrm}\n", encoding="utf-8")
    # The inventory reads (ansible-inventory reads it too); the host fails alone, before it is contacted.
    inventory = load([path])
    with pytest.raises(ConnectionConfigError) as raised:
        psrp_settings_for(inventory.host("10.0.0.5"), tmp_path)
    assert "'10.0.0.5', an address" in str(raised.value) and "ansible_host" in str(raised.value)
    assert settings_for(inventory.host("10.0.0.6"), tmp_path).host == "10.0.0.6"

"""Organisation files: defaults, and errors that name file, line, column and what was expected."""

import textwrap
from pathlib import Path

import pytest

from exconf.lab.exchange import orgfile
from exconf.lab.exchange.spec import OrgFileError


def load(tmp_path: Path, text: str):
    path = tmp_path / "org.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return orgfile.load(path)


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(OrgFileError) as err:
        load(tmp_path, text)
    return str(err.value)


def test_a_server_needs_only_a_name_and_a_role(tmp_path):
    org = load(tmp_path, """
        servers:
          - {name: ex01, role: Mailbox}
          - {name: EDGE01, role: Edge}
    """)
    ex01, edge = (e.spec for e in org.servers)
    assert (org.organization.name, org.organization.domain, org.organization.netbios) == ("Contoso", "contoso.lab", "CONTOSO")
    assert (ex01.name, ex01.fqdn, ex01.version, ex01.site, ex01.address, ex01.codepage) == (
        "ex01", "ex01.contoso.lab", "15.2.1544.4", "Default-First-Site-Name", "127.42.0.1", 437)
    assert (edge.address, edge.role, edge.winrm.http_port, edge.winrm.https_port, edge.faults.unreachable) == (
        "127.42.0.2", "Edge", 5985, 5986, False)
    assert org.servers[1].subscribed is False and org.organization.dc == "DC01.contoso.lab"


def test_netbios_defaults_from_the_domain(tmp_path):
    org = load(tmp_path, """
        organization: {domain: fabrikam.example}
        accounts: [{user: admin, password: pw}]
        servers: [{name: MBX1, role: Mailbox}]
    """)
    assert org.organization.netbios == "FABRIKAM"
    assert org.servers[0].spec.accounts[0].domain == "FABRIKAM"


def test_unknown_key_is_named_with_its_position_and_the_expected_keys(tmp_path):
    message = error(tmp_path, """
        servers:
          - name: EX01
            role: Mailbox
            rol: Edge
    """)
    assert message.startswith(f"{tmp_path / 'org.yaml'}:4:5: servers[0].rol: unknown key 'rol'; expected one of: ")
    assert "address" in message and "role" in message


def test_bad_enum_value(tmp_path):
    message = error(tmp_path, """
        servers:
          - {name: EX01, role: Hub}
    """)
    assert message == f"{tmp_path / 'org.yaml'}:2:24: servers[0].role: expected one of Mailbox, Edge, got the string 'Hub'"


def test_address_must_be_loopback(tmp_path):
    message = error(tmp_path, """
        servers:
          - name: EX01
            role: Mailbox
            address: 10.0.0.1
    """)
    assert ":4:14: servers[0].address: expected a loopback address 127.x.y.z, got the string '10.0.0.1'" in message


def test_missing_required_key_and_wrong_type(tmp_path):
    message = error(tmp_path, """
        servers:
          - {role: Mailbox}
          - {name: EX02, role: Mailbox, winrm: {http_port: "80"}}
    """)
    lines = message.splitlines()
    assert lines[0].endswith(":2:5: servers[0]: missing required key 'name'")
    assert lines[1].endswith(":3:52: servers[1].winrm.http_port: expected an integer, got the string '80'")


def test_yaml_syntax_error(tmp_path):
    message = error(tmp_path, """
        servers:
          - {name: EX01, role: Mailbox
    """)
    assert message.startswith(f"{tmp_path / 'org.yaml'}:") and "not valid YAML" in message


def test_duplicate_keys_and_duplicate_servers(tmp_path):
    assert "duplicate key 'role'" in error(tmp_path, """
        servers:
          - {name: EX01, role: Mailbox, role: Edge}
    """)
    message = error(tmp_path, """
        servers:
          - {name: EX01, role: Mailbox}
          - {name: ex01, role: Edge}
    """)
    assert message.endswith(":3:12: servers[1].name: name 'ex01' is already used by servers[0]; expected a unique name")


def test_edge_only_keys_on_a_mailbox_server(tmp_path):
    message = error(tmp_path, """
        servers:
          - {name: EX01, role: Mailbox, subscribed: true}
    """)
    assert ":2:33: servers[0].subscribed: only an Edge server takes 'subscribed'" in message


def test_send_connector_values_are_checked_like_set_sendconnector_would(tmp_path):
    message = error(tmp_path, """
        servers: [{name: EX01, role: Mailbox}]
        send_connectors:
          - name: Out
            address_spaces: ["SMTP:*;1"]
            source_transport_servers: [EX01]
            protocol_logging_level: Loud
    """)
    assert ":6:29: send_connectors[0].protocol_logging_level: Cannot convert value \"Loud\"" in message
    message = error(tmp_path, """
        servers: [{name: EX01, role: Mailbox}, {name: EDGE1, role: Edge}]
        send_connectors:
          - {name: Out, address_spaces: ["*"], source_transport_servers: [EX01, EDGE1]}
    """)
    assert "send_connectors[0].source_transport_servers[1]: no Mailbox server or subscribed Edge named 'EDGE1'" in message


def test_fault_cmdlets_must_exist(tmp_path):
    message = error(tmp_path, """
        servers:
          - name: EX01
            role: Mailbox
            faults: {cmdlets: [{cmdlet: Get-Mailbox, message: boom}]}
    """)
    assert "servers[0].faults.cmdlets[0].cmdlet: the lab has no cmdlet 'Get-Mailbox'" in message


def test_codepage_must_be_known(tmp_path):
    assert "code page 12345 is not supported" in error(tmp_path, """
        servers: [{name: EX01, role: Mailbox, codepage: 12345}]
    """)


def test_the_schema_is_valid_json_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(orgfile.schema())


def test_an_unreadable_file(tmp_path):
    with pytest.raises(OrgFileError, match="cannot read the organisation file"):
        orgfile.load(tmp_path / "missing.yaml")


def test_errors_in_accounts_never_echo_what_may_be_a_password(tmp_path):
    text = error(tmp_path, """
        accounts:
          - "exadmin:S3cret-pw"
          - {user: "bad:name", password: ""}
        servers:
          - {name: EX01, role: Mailbox, local_accounts: [{user: admin, password: ["Other-S3cret"]}]}
    """)
    assert "S3cret" not in text
    assert "accounts[0]: expected a mapping, got a string" in text
    assert "accounts[1].password: expected a non-empty string" in text
    assert "got the string 'bad:name'" in text  # a user name is not a secret: it is shown


def test_connector_names_differing_only_in_case_are_refused_as_exchange_would(tmp_path):
    message = error(tmp_path, """
        servers: [{name: EX01, role: Mailbox}]
        send_connectors:
          - {name: Outbound, address_spaces: ["SMTP:*;1"], source_transport_servers: [EX01]}
          - {name: OUTBOUND, address_spaces: ["SMTP:*;1"], source_transport_servers: [EX01]}
    """)
    assert ":4:12: send_connectors[1].name: the name 'OUTBOUND' is already used by send_connectors[0] ('Outbound')" in message
    assert "unique without regard to case" in message
    message = error(tmp_path, """
        servers:
          - name: EDGE1
            role: Edge
            send_connectors:
              - {name: Internet, address_spaces: ["SMTP:*;1"]}
              - {name: internet, address_spaces: ["SMTP:contoso.com;1"]}
    """)
    assert "servers[0].send_connectors[1].name: the name 'internet' is already used by servers[0].send_connectors[0]" in message

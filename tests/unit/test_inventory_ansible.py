"""Ansible inventory features exconf reads: templates, vault, INI, ranges, connection variables, -e."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from exconf.cli import main
from exconf.connection import settings_for
from exconf.transport.kerberos import kerberos_missing
from exconf.inventory import load
from exconf.inventory_ini import parse_value
from exconf.sensitive import Sensitive, is_sensitive
from exconf.vault import VaultError, VaultOptions, VaultSecret, VaultSecrets, load_secrets

from .test_inventory import errors_of

CORPUS = Path(__file__).resolve().parents[1] / "data" / "inventories"
SECRETS = load_secrets(VaultOptions(password_files=(str(CORPUS / "vault-pass.txt"),), vault_ids=(f"prod@{CORPUS / 'vault-pass-prod.txt'}",)))
VAULTED = (CORPUS / "estate" / "group_vars" / "all" / "vault.yml").read_text(encoding="utf-8")  # vault_exadmin_password: !vault | (1.1)
ENVELOPE = yaml.safe_load(VAULTED.replace("!vault", "      "))["vault_exadmin_password"]


def test_a_template_is_rendered_per_host_with_its_location_kept(write):
    path = write(
        {
            "inv.yaml": """
            all:
              vars:
                exchange:
                  transport_service:
                    send_protocol_log_path: "D:\\\\Logs\\\\{{ inventory_hostname_short }}\\\\SmtpSend"
              hosts:
                ex01.contoso.com:
                ex02.contoso.com: {ansible_port: "{{ 5985 + 1 }}"}
            """
        }
    )
    inv = load(path)
    ex01, ex02 = inv.hosts
    assert ex01.vars["exchange"]["transport_service"]["send_protocol_log_path"] == "D:\\Logs\\ex01\\SmtpSend"
    assert ex02.vars["exchange"]["transport_service"]["send_protocol_log_path"] == "D:\\Logs\\ex02\\SmtpSend"
    assert ex02.vars["ansible_port"] == 5986  # one expression keeps its type, as in ansible-core 2.19
    where = ex01.source(("exchange", "transport_service", "send_protocol_log_path"))
    assert where.file.endswith("inv.yaml") and where.line == 5


@pytest.mark.parametrize(
    "template, expected",
    [
        ("{{ lookup('file', '/etc/passwd') }}", "outside the inventory's folder"),
        ("{{ lookup('pipe', 'id') }}", "lookup 'pipe' runs a command on the controller"),
        ("{{ query('ansible.builtin.url', 'https://x') }}", "reaches the network"),
        ("{{ inventory_hostname | frobnicate }}", "unknown filter 'frobnicate'"),
        ("{{ vault_exadmin_pasword }}", "'vault_exadmin_pasword' is undefined"),
        ("{{ ''.__class__.__mro__ }}", "unsafe"),
        ("{{ 'x' * 100000000 }}", "not allowed"),
        ("{% raw %}{{ x }}{% endraw %}", "still holds a template"),
        ("{{ x ", "template syntax error"),
    ],
)
def test_what_cannot_be_rendered_is_an_error_at_the_variable_never_a_literal(write, template, expected):
    text = "all:\n  hosts:\n    h:\n      ansible_password: " + json.dumps(template) + "\n"
    (error,) = errors_of(write({"inv.yaml": text}))
    assert "inv.yaml:4:25: ansible_password: " in error and expected in error, error


def test_a_template_that_refers_to_itself_is_an_error(write):
    errors = errors_of(write({"inv.yaml": "all:\n  vars: {a: '{{ b }}', b: '{{ a }}'}\n  hosts: {h:}\n"}))
    assert errors and all("refers to itself" in e for e in errors)
    assert any("a -> b -> a" in e for e in errors) or any("b -> a -> b" in e for e in errors)


def test_vault_values_decrypt_and_stay_sensitive_through_templates(write):
    path = write({"inv.yaml": "all:\n  vars:\n    ansible_user: u\n    ansible_password: '{{ vault_exadmin_password }}'\n  hosts: {h:}\n", "group_vars/all.yml": VAULTED})
    host = load(path, vault=SECRETS).host("h")
    assert host.vars["ansible_password"] == "Ex-Admin-Pa55!"
    assert isinstance(host.vars["ansible_password"], Sensitive) and "Pa55" not in repr(host.vars)
    settings = settings_for(host, path.parent, env={})
    assert settings.password == "Ex-Admin-Pa55!" and "Pa55" not in repr(settings)


def test_a_wrong_or_missing_vault_password_names_the_value_and_no_secret(write):
    path = write({"inv.yaml": "all:\n  hosts: {h:}\n", "group_vars/all.yml": VAULTED})
    missing = errors_of(path)  # every value that cannot be decrypted, each at its place
    assert "group_vars/all.yml:1:32" in missing[0] and "--vault-password-file" in missing[0]
    wrong = VaultSecrets((VaultSecret("default", b"not-the-password"),))
    error = errors_of(path, vault=wrong)[0]
    assert "group_vars/all.yml:1:32" in error and "no vault password given decrypts this" in error
    assert not any("not-the-password" in e for e in errors_of(path, vault=wrong))


def test_a_vault_id_selects_its_password_and_a_whole_file_vault_is_secret_throughout():
    inv = load(CORPUS / "estate" / "hosts.yml", vault=SECRETS)
    edge = inv.host("ams-edgeb.dmz.contoso.com")
    assert edge.vars["ansible_password"] == "Edge-Local-Pa55" and is_sensitive(edge.vars["ansible_password"])
    assert edge.vars["edge_banner"] == "ams-edgeb.dmz.contoso.com (DMZ)" and is_sensitive(edge.vars["edge_banner"])
    assert edge.vars["ansible_user"] == "AMS-EDGEB\\Administrator"


def test_password_sources_as_ansible_reads_them(tmp_path):
    (tmp_path / "pw").write_text("from-file\n")
    script = tmp_path / "pw-client"
    script.write_text("#!/bin/sh\necho from-script\n")
    script.chmod(0o755)
    got = load_secrets(VaultOptions(vault_ids=(f"a@{script}",)), env={"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "pw")})
    assert [(s.label, s.password) for s in got.secrets] == [("a", b"from-script")]  # the env file only without options
    got = load_secrets(VaultOptions(ask=True), env={"ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "pw")}, prompt=lambda _: "typed")
    assert [s.password for s in got.secrets] == [b"from-file", b"typed"]
    with pytest.raises(VaultError, match="no such file"):
        load_secrets(VaultOptions(password_files=(str(tmp_path / "nope"),)))


@pytest.mark.parametrize(
    "text, value",
    [("5986", 5986), ('"5986"', "5986"), ("True", True), ("yes", "yes"), ("D:\\Logs", "D:\\Logs"), ("[1, 'a']", [1, "a"]), ("1+2j", "(1+2j)")],
)
def test_ini_values_are_typed_as_ansible_types_them(text, value):
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


def test_ini_sections_ranges_ports_and_undeclared_children(write):
    path = write({"hosts.ini": "lonely\n[web]\nw[1:3:2] a=1\nx:2222\n[dc:children]\nweb\nnope\n"})
    (error,) = errors_of(path)
    assert "hosts.ini:7:1" in error and "'nope'" in error
    inv = load(write({"hosts.ini": "lonely\n[web]\nw[1:3:2] a=1\nx:2222\n[dc:children]\nweb\n"}))
    assert [h.name for h in inv.hosts] == ["lonely", "w1", "w3", "x"]
    assert inv.host("x").vars["ansible_port"] == 2222 and inv.host("w3").vars["a"] == 1
    assert inv.direct_hosts["ungrouped"] == ("lonely",) and inv.groups["dc"] == {"w1", "w3", "x"}


def test_ansible_port_as_a_text_works(write):
    path = write({"inv.yaml": "all:\n  hosts:\n    h: {ansible_port: '5986', ansible_user: u, ansible_password: p}\n"})
    settings = settings_for(load(path).host("h"), path.parent, env={})
    assert (settings.port, settings.scheme) == (5986, "https")


@pytest.mark.parametrize("transport, says", [
    ("certificate", "not supported yet"),
    ("credssp", "CredSSP is refused: it hands your password to the server"),
])
def test_a_transport_exconf_lacks_or_refuses_is_refused_when_the_inventory_is_checked(write, transport, says):
    inventory = f"all:\n  vars:\n    ansible_connection: winrm\n    ansible_winrm_transport: {transport}\n  hosts: {{h:}}\n"
    (error,) = errors_of(write({"inv.yaml": inventory}))
    assert "inv.yaml:4:30: ansible_winrm_transport:" in error and says in error


@pytest.mark.skipif(kerberos_missing() is not None, reason=str(kerberos_missing()))
def test_kerberos_is_a_transport_and_takes_its_spn_from_the_host_name(write):
    path = write({"inv.yaml": "all:\n  vars:\n    ansible_connection: winrm\n    ansible_winrm_transport: kerberos\n"
                              "    ansible_user: exadmin@contoso.lab\n"
                              "  hosts:\n    ex01.contoso.lab: {ansible_host: 192.0.2.10}\n"
                              "    ex02.contoso.lab: {ansible_host: ex02-mgmt.contoso.lab}\n"
                              "    ex03.contoso.lab: {ansible_host: 192.0.2.12, ansible_winrm_kerberos_hostname_override: mail3.contoso.lab,"
                              " ansible_winrm_kerberos_delegation: 'yes'}\n"})
    inventory = load(path)  # no issue
    one, two, three = (settings_for(inventory.host(h), path.parent, env={})
                       for h in ("ex01.contoso.lab", "ex02.contoso.lab", "ex03.contoso.lab"))
    assert (one.auth, one.user, one.password, one.spn_host, one.delegate) == (
        "kerberos", "exadmin@CONTOSO.LAB", None, "ex01.contoso.lab", False)  # no password: the credential cache
    assert one.encrypts_messages and one.host == "192.0.2.10"
    assert two.spn_host == "ex02-mgmt.contoso.lab"  # a DNS name in ansible_host is the name, as in Ansible
    assert (three.spn_host, three.delegate) == ("mail3.contoso.lab", True)


def test_forbidding_ntlm_needs_a_transport_that_is_not_ntlm(write):
    winrm = "all:\n  vars:\n    ansible_connection: winrm\n    exconf_forbid_ntlm: true\n"
    (error,) = errors_of(write({"inv.yaml": winrm + "  hosts: {h:}\n"}))
    assert "exconf_forbid_ntlm" in error and "set it to kerberos" in error
    (error,) = errors_of(write({"inv.yaml": winrm + "    ansible_winrm_transport: [ntlm]\n  hosts: {h:}\n"}))
    assert "ntlm is forbidden here" in error
    load(write({"inv.yaml": winrm + "    ansible_winrm_transport: [ntlm, kerberos]\n  hosts: {h:}\n"}))  # kerberos is left
    # Remote PowerShell: ntlm is refused, and negotiate is taken as Kerberos (it would fall back to NTLM).
    psrp = "all:\n  vars:\n    exconf_forbid_ntlm: true\n"
    (error,) = errors_of(write({"inv.yaml": psrp + "    ansible_psrp_auth: ntlm\n  hosts: {ex01.contoso.lab:}\n"}))
    assert "ansible_psrp_auth" in error and "ntlm is forbidden here" in error


def test_extra_vars_win_over_everything_and_keep_their_source(write, tmp_path):
    path = write({"inv.yaml": "all:\n  hosts:\n    h: {a: host, b: host}\n"})
    extra = tmp_path / "extra.yml"
    extra.write_text("b: from-file\n")
    host = load(path, extra=("a=cli c='x y'", f"@{extra}")).host("h")
    assert (host.vars["a"], host.vars["b"], host.vars["c"]) == ("cli", "from-file", "x y")
    assert host.source(("a",)).file == "-e #1" and host.source(("b",)).line == 1


def test_the_cli_masks_secrets_and_escapes_names(tmp_path, capsys):
    root = tmp_path / "estate"
    shutil.copytree(CORPUS / "estate", root)
    (root / "host_vars" / "rtm-ex01.contoso.com").write_text("note: \"evil\\u202e\\u001b[2J\"\n")
    vault = ["--vault-password-file", str(CORPUS / "vault-pass.txt"), "--vault-id", f"prod@{CORPUS / 'vault-pass-prod.txt'}"]
    assert main(["inventory", "-i", str(root / "hosts.yml"), *vault, "--list"]) == 0
    out, err = capsys.readouterr()
    listed = json.loads(out)
    assert listed["_meta"]["hostvars"]["rtm-ex01.contoso.com"]["ansible_password"] == "********"
    assert "Pa55" not in out and "\x1b" not in out and "\u202e" not in out
    assert listed["_meta"]["hostvars"]["rtm-ex01.contoso.com"]["note"] == "evil\u202e\x1b[2J"  # JSON stays exact
    assert "no group named 'mailbx'" in err
    assert main(["inventory", str(root / "hosts.yml"), *vault, "--graph", "--vars", "-l", "rtm-ex01*"]) == 0
    out, _ = capsys.readouterr()
    assert "|--rtm-ex01.contoso.com" in out and "\\u202e" in out and "\x1b" not in out and "Pa55" not in out


def test_ansible_host_falls_back_to_the_inventory_name_as_in_a_task(write):
    inv = load(write({"inv.yaml": "all:\n  vars: {to: '{{ ansible_host }}', file: '{{ inventory_file | basename }}'}\n  hosts:\n    h1:\n    h2: {ansible_host: 192.0.2.2}\n"}))
    assert [(h.vars["to"], h.vars["file"]) for h in inv.hosts] == [("h1", "inv.yaml"), ("192.0.2.2", "inv.yaml")]


def test_a_jinja_looking_name_is_refused_since_names_are_never_rendered(write):
    text = "all:\n  hosts:\n    h:\n      exchange:\n        receive_connectors:\n          'Default {{ inventory_hostname }}': {protocol_logging_level: Verbose}\n"
    (error,) = errors_of(write({"inv.yaml": text}))
    assert "inv.yaml:6:11" in error and "looks like a Jinja template" in error


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def test_a_script_without_meta_is_asked_host_by_host(tmp_path):
    script = _script(tmp_path / "inv.sh", 'if [ "$1" = "--list" ]; then echo \'{"mailbox": ["ex01"], "edge": {"hosts": ["e1"], "vars": {"ansible_port": 5986}}}\'; else echo "{\\"who\\": \\"$2\\"}"; fi\n')
    inv = load(script)
    assert [(h.name, h.vars["who"]) for h in inv.hosts] == [("ex01", "ex01"), ("e1", "e1")]
    assert inv.host("e1").vars["ansible_port"] == 5986


@pytest.mark.parametrize(
    "body, expected",
    [
        ("echo 'CMDB down' >&2; exit 3\n", "--list exited with status 3: CMDB down"),
        ("echo 'not json'\n", "not JSON"),
        ("echo '[1, 2]'\n", "a JSON object of groups"),
    ],
)
def test_a_failing_script_is_a_clear_error_naming_it(tmp_path, body, expected):
    (error,) = errors_of(_script(tmp_path / "cmdb.sh", body))
    assert "cmdb.sh" in error and expected in error


def test_a_directory_is_every_inventory_file_in_it_but_ignored_ones(write):
    first = write(
        {
            "inv/10-mailbox.yml": "mailbox:\n  hosts: {ex01: }\n",
            "inv/20-edge.ini": "[edge]\ne1\n",
            "inv/README.md": "[not]\nan inventory\n",
            "inv/group_vars/edge.yml": "ansible_port: 5986\n",
            "inv/.hidden": "[nope]\nh\n",
        }
    )
    inv = load(first.parent)
    assert [h.name for h in inv.hosts] == ["ex01", "e1"] and inv.host("e1").vars["ansible_port"] == 5986


@pytest.mark.parametrize(
    "template",
    [
        "{{ {}[vault_exadmin_password ~ ''] }}",  # Jinja's undefined message would quote the key (a plain text by then)
        "{{ hostvars[vault_exadmin_password] }}",
        "{{ (vault_exadmin_password ~ '{') | from_json }}",
    ],
)
def test_an_error_in_a_template_over_a_secret_never_quotes_the_secret(write, template):
    path = write({"inv.yaml": "all:\n  hosts:\n    h:\n      note: " + json.dumps(template) + "\n", "group_vars/all.yml": VAULTED})
    (error,) = errors_of(path, vault=SECRETS)
    assert "inv.yaml:4:13: note:" in error and "Pa55" not in error


def test_nested_loops_cannot_hang_a_run(write):
    template = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    (error,) = errors_of(write({"inv.yaml": "all:\n  hosts:\n    h:\n      x: " + json.dumps(template) + "\n"}))
    assert "range() steps" in error


def test_unsafe_values_are_never_rendered_and_tag_like_text_in_quotes_is_kept(write):
    path = write({"inv.yaml": "all:\n  hosts:\n    h:\n      a: !unsafe '{{ literal }}'\n      b: {c: !unsafe '{{x}}', d: '{{ inventory_hostname }}'}\n      note: 'see: !unsafe here'\n"})
    host = load(path).host("h")
    assert (host.vars["a"], host.vars["b"], host.vars["note"]) == ("{{ literal }}", {"c": "{{x}}", "d": "h"}, "see: !unsafe here")


def test_the_json_of_ansible_inventory_list_is_a_source_with_its_vault_and_unsafe_values(write):
    listed = {
        "_meta": {"hostvars": {"h": {"pw": {"__ansible_vault": ENVELOPE}, "raw": {"__ansible_unsafe": "{{ x }}"}, "t": "{{ inventory_hostname }}"}}},
        "all": {"children": ["ungrouped", "mailbox"]},
        "mailbox": {"hosts": ["h"]},
    }
    host = load(write({"estate.json": json.dumps(listed)}), vault=SECRETS).host("h")
    assert (host.vars["pw"], host.vars["raw"], host.vars["t"]) == ("Ex-Admin-Pa55!", "{{ x }}", "h") and is_sensitive(host.vars["pw"])


def test_a_directory_inventory_resolves_relative_paths_inside_it(write):
    first = write({"inv/hosts.yml": "all:\n  hosts: {h: }\n"})
    inv = load(first.parent)
    assert inv.base_dir.resolve() == first.parent.resolve() and inv.path.resolve() == first.resolve()
    assert load(first).base_dir == first.parent


@pytest.mark.parametrize(
    "listing, expected",
    [
        ('{"_meta": {"hostvars": {}}, "g": {"hosts": "notalist"}}', "hosts of group 'g' must be a list of names"),
        ('{"_meta": {"hostvars": {}}, "g": {"hosts": ["a"], "children": "x"}}', "children of group 'g' must be a list of names"),
        ('{"_meta": {"hostvars": {}}, "g": {"hosts": ["a"], "vars": [1]}}', "vars of group 'g' must be an object"),
        ('{"_meta": {"hostvars": []}, "g": ["a"]}', "_meta.hostvars must be an object"),
    ],
)
def test_a_malformed_listing_is_a_clear_error(write, listing, expected):
    (error,) = errors_of(write({"estate.json": listing}))
    assert "estate.json" in error and expected in error


def test_a_script_given_by_a_relative_path_runs(tmp_path, monkeypatch):
    _script(tmp_path / "cmdb.sh", "echo '{\"g\": [\"a\"]}'\n")
    monkeypatch.chdir(tmp_path)
    assert [h.name for h in load(Path("cmdb.sh")).hosts] == ["a"]


def test_errors_escape_what_the_inventory_says_before_it_reaches_the_terminal(write, capsys):
    path = write({"inv.yaml": 'all:\n  hosts:\n    "ex\\u202e\\u001b[2J": {ansible_port: x}\n'})
    assert main(["plan", str(path)]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\u202e" not in err and "\\x1b" in err and "\\u202e" in err


def test_vault_ids_from_the_environment_when_no_option_names_one(tmp_path):
    (tmp_path / "pw").write_text("p1\n")
    env = {"ANSIBLE_VAULT_IDENTITY_LIST": f"prod@{tmp_path / 'pw'}, ", "ANSIBLE_VAULT_PASSWORD_FILE": str(tmp_path / "pw")}
    assert [(s.label, s.password) for s in load_secrets(VaultOptions(), env=env).secrets] == [("prod", b"p1")]


def test_organisation_state_is_rendered_once_without_a_host_and_checked(write):
    text = """
    all:
      vars:
        level: Loud
        exchange_organization:
          send_connectors:
            "EdgeSync - *": {protocol_logging_level: "{{ level }}"}
      children:
        mailbox:
          vars: {level: Verbose}
          hosts: {ex01: }
    """
    (error,) = errors_of(write({"inv.yaml": text}))
    assert "inv.yaml:6:50" in error and "found 'Loud'" in error
    inv = load(write({"inv.yaml": text.replace("Loud", "Verbose").replace("{{ level }}", "{{ (groups.mailbox | length > 0) | ternary('Verbose', 'None') }}")}))
    assert inv.organization == {"send_connectors": {"EdgeSync - *": {"protocol_logging_level": "Verbose"}}}
    errors = errors_of(write({"inv.yaml": text.replace("{{ level }}", "{{ inventory_hostname }}")}))
    assert any("'inventory_hostname' is undefined" in e for e in errors), errors

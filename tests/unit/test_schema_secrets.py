"""No validation message shows a value from a secret field: it says where and what type, never what."""

import pytest

from exconf.inventory import InventoryError, load
from exconf.schema import is_secret, validate_block, vars_schema
from exconf.yamlsource import SourceError, load_text

SECRET = "80914623"


def issues(text: str, schema=None) -> list[str]:
    doc = load_text(text, "f.yaml")
    return [str(i) for i in validate_block(doc, (), doc.data, schema or vars_schema())]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"ansible_password: {SECRET}\n", "found a number; YAML reads an unquoted value such as this one as a number: put it in quotes"),
        ("ansible_password: 12:30:45\n", "found a number; YAML reads an unquoted value such as this one as a number: put it in quotes"),
        ("ansible_password: 80914623.5\n", "found a number; YAML reads"),
        ("ansible_password: yes\n", "found a boolean; YAML reads an unquoted value such as this one as a boolean: put it in quotes"),
        ("ansible_password: [80914623]\n", "found a list"),
        ("ansible_password: {k: 80914623}\n", "found a mapping"),
        ("ansible_password: ~\n", "found nothing (null)"),
        ("exconf_password_env: 80914623\n", "found a number"),
    ],
)
def test_a_wrongly_typed_password_is_described_by_type_only(text, found):
    (message,) = issues(text)
    assert message.startswith("f.yaml:1:19: ") or message.startswith("f.yaml:1:22: ")
    assert found in message and message.endswith("(the value is not shown: it may be a password)")
    for shown in ("80914623", "12:30:45", "45045", "yes", "True"):
        assert shown not in message


def test_a_quoted_number_is_not_told_to_be_quoted():
    schema = {"type": "object", "properties": {"ansible_password": {"type": "integer"}}}
    (message,) = issues("ansible_password: '80914623'\n", schema)
    assert message == "f.yaml:1:19: ansible_password: expected a whole number, found a string (the value is not shown: it may be a password)"


def test_a_password_typed_into_exconf_password_env_is_not_shown():
    (message,) = issues("exconf_password_env: 'Tr0ub4dor&3'\n")
    assert message == (
        "f.yaml:1:22: exconf_password_env: expected the name of an environment variable (letters, digits and _, "
        "not starting with a digit), found another string (the value is not shown: it may be a password)"
    )


def test_an_environment_variable_name_passes():
    assert issues("exconf_password_env: EXCONF_PASSWORD\n") == []


@pytest.mark.parametrize("key", ["pfx_password", "smtp_secret", "key_passphrase", "ansible_become_pass", "BindPassword"])
def test_every_secret_named_key_is_hidden_whatever_the_check(key):
    schema = {
        "type": "object",
        "properties": {
            "exchange": {
                "type": "object",
                "properties": {key: {"anyOf": [{"enum": ["a", "b"]}, {"type": "string", "pattern": "^x+$", "minLength": 2}]}},
            }
        },
    }
    for value in ("hunter2", "'x'", "[hunter2]", "90210"):
        (message,) = issues(f"exchange:\n  {key}: {value}\n", schema)
        assert message.startswith(f"f.yaml:2:{len(key) + 5}: exchange.{key}: expected ")
        assert "hunter2" not in message and "90210" not in message and "'x'" not in message
        assert message.endswith("(the value is not shown: it may be a password)")


def test_a_value_below_a_secret_named_mapping_is_hidden():
    schema = {"type": "object", "properties": {"secrets": {"type": "object", "properties": {"smtp": {"type": "string"}}}}}
    (message,) = issues(f"secrets:\n  smtp: {SECRET}\n", schema)
    assert SECRET not in message and "found a number" in message


def test_a_value_of_an_ordinary_key_is_still_shown():
    (message,) = issues("ansible_port: http\n")
    assert message == "f.yaml:1:15: ansible_port: expected a whole number, found 'http'"


@pytest.mark.parametrize(
    ("path", "secret"),
    [
        (("ansible_password",), True),
        (("all", "vars", "ansible_become_password"), True),
        (("ansible_ssh_pass",), True),
        (("exconf_password_env",), True),
        (("exchange", "certificates", "x", "pfx_passphrase"), True),
        (("vault_secret", 0), True),
        (("ansible_user",), False),
        (("passive_mode",), False),
        (("compass",), False),
        ((0, "ansible_port"), False),
    ],
)
def test_which_keys_are_secret(path, secret):
    assert is_secret(path) is secret


@pytest.mark.parametrize("text", ["ansible_password: !!int hunter2\n", "ansible_password: 2024-13-99\n", "ansible_password: !!float hunter2\n"])
def test_a_password_yaml_cannot_construct_is_not_quoted(text):
    with pytest.raises(SourceError) as exc:
        load_text(text, "f.yaml")
    assert str(exc.value).startswith("f.yaml:1:19: not a valid ")
    assert "hunter2" not in str(exc.value) and "2024-13-99" not in str(exc.value)


def test_an_inventory_error_shows_no_password_from_any_file(write):
    path = write(
        {
            "inv.yaml": f"all:\n  vars: {{ansible_user: u, ansible_password: {SECRET}}}\n  hosts:\n    h: {{ansible_password: yes}}\n",
            "group_vars/all.yml": "exconf_password_env: 'p@ss word'\n",
            "host_vars/h.yml": "ansible_password: 12:30:45\n",
        }
    )
    with pytest.raises(InventoryError) as exc:
        load(path)
    text = str(exc.value)
    # Validated as the host uses them (as Ansible would): the values h overrides are not in use;
    # exconf_password_env's and the one ansible_password h ends with are reported, by place only.
    assert len(exc.value.issues) == 2
    assert {str(i).split(": ", 1)[0].rsplit("/", 1)[-1] for i in exc.value.issues} == {"all.yml:1:22", "h.yml:1:19"}
    for shown in (SECRET, "p@ss", "12:30:45", "45045", "yes", "True", "true"):
        assert shown not in text

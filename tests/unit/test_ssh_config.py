"""SSH variables as ansible-core names them, OpenSSH's options as exconf takes them, and known_hosts read as ssh
reads it (plain and hashed names, [host]:port, @revoked), with fingerprints as ssh-keygen -l prints them."""

from __future__ import annotations

import io
import subprocess

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from exconf.connection import ConnectionConfigError, ssh_settings_for, unsupported_connection
from exconf.inventory import Host
from exconf.sshvars import SSHConfigError, inventory_issues, last_set, ssh_options
from exconf.transport import hostkeys

BASE = {"ansible_connection": "ssh", "ansible_shell_type": "powershell", "exconf_role": "Edge",
        "ansible_user": "Administrator", "ansible_password": "x"}


def _key() -> paramiko.Ed25519Key:
    text = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()).decode()
    return paramiko.Ed25519Key(file_obj=io.StringIO(text))


def test_the_last_name_set_wins_as_ansible_reads_an_option_with_several_names():
    assert last_set({"ansible_port": 22, "ansible_ssh_port": 2222}, "ansible_port", "ansible_ssh_port") == 2222
    assert last_set({"ansible_port": 22, "ansible_ssh_port": ""}, "ansible_port", "ansible_ssh_port") == 22
    assert last_set({}, "ansible_port", "ansible_ssh_port") is None


def test_ssh_options_take_the_host_key_options_first_value_first_and_let_connection_sharing_pass():
    v = {"ansible_ssh_args": "-C -o ControlMaster=auto -o ControlPersist=60s",
         "ansible_ssh_common_args": "-o UserKnownHostsFile=a -oStrictHostKeyChecking=accept-new",
         "ansible_ssh_extra_args": "-o 'UserKnownHostsFile b' -o GlobalKnownHostsFile=/etc/g"}
    assert ssh_options(v) == {"userknownhostsfile": ("a", "ansible_ssh_common_args"),
                              "stricthostkeychecking": ("accept-new", "ansible_ssh_common_args"),
                              "globalknownhostsfile": ("/etc/g", "ansible_ssh_extra_args")}


@pytest.mark.parametrize("args, words", [
    ("-o ProxyCommand=nc %h %p", "-o ProxyCommand is an option of the ssh program"),
    ("-i id_rsa", "'-i' is an argument of the ssh program"),
    ("-o", "-o is not followed by an option"),
    ("-o 'unclosed", "cannot be split into arguments"),
])
def test_other_ssh_arguments_are_refused_naming_the_variable(args, words):
    with pytest.raises(SSHConfigError) as exc:
        ssh_options({"ansible_ssh_common_args": args})
    assert exc.value.variable == "ansible_ssh_common_args" and words in str(exc.value)


def test_inventory_issues_and_the_door_checks_run_when_the_inventory_loads():
    assert inventory_issues(BASE) == []
    assert unsupported_connection(BASE, "edge01") == []
    found = dict(inventory_issues({**BASE, "ansible_shell_type": None, "ansible_ssh_host_key_checking": "False",
                                   "ansible_ssh_common_args": "-o StrictHostKeyChecking=maybe", "ansible_ssh_timeout": "ten"}))
    assert set(found) == {"ansible_shell_type", "ansible_host_key_checking", "ansible_ssh_common_args", "ansible_ssh_timeout"}
    assert "not a value ssh knows" in found["ansible_ssh_common_args"]
    # A host whose role the variables do not show is taken for a Mailbox server: refused, saying how to name an Edge.
    (variable, message), = unsupported_connection({k: v for k, v in BASE.items() if k != "exconf_role"}, "edge01")
    assert variable == "ansible_connection" and "exconf_role: Edge" in message


def test_settings_resolve_paths_against_the_inventory_and_the_home_folder(tmp_path):
    v = {**BASE, "ansible_host": "127.0.0.1", "ansible_ssh_port": "2222",
         "ansible_ssh_common_args": "-o UserKnownHostsFile='kh ~/other' -o StrictHostKeyChecking=accept-new"}
    settings = ssh_settings_for(Host("edge01", 0, frozenset(), v, {}), tmp_path, env={"HOME": "/home/op"})
    assert settings.endpoint == "ssh://127.0.0.1:2222" and settings.known_hosts_name == "[127.0.0.1]:2222"
    assert settings.user_known_hosts == (str(tmp_path / "kh"), "/home/op/other")
    assert settings.global_known_hosts == hostkeys.DEFAULT_GLOBAL_FILES and settings.accept_new
    default = ssh_settings_for(Host("edge01", 0, frozenset(), BASE, {}), tmp_path, env={"HOME": "/home/op"})
    assert default.port == 22 and default.user_known_hosts == ("/home/op/.ssh/known_hosts", "/home/op/.ssh/known_hosts2")
    assert default.timeout == 10 and not default.accept_new


def test_settings_need_a_credential_and_name_the_variable(tmp_path):
    with pytest.raises(ConnectionConfigError) as exc:
        ssh_settings_for(Host("edge01", 0, frozenset(), {k: v for k, v in BASE.items() if k != "ansible_password"}, {}), tmp_path, env={})
    assert str(exc.value).startswith("edge01: ansible_password: no credential: set ansible_ssh_private_key_file")


def test_the_settings_never_show_a_secret(tmp_path):
    settings = ssh_settings_for(Host("edge01", 0, frozenset(), {**BASE, "ansible_password": "S3cret-Value"}, {}), tmp_path, env={})
    assert "S3cret-Value" not in repr(settings)


def test_known_hosts_are_read_as_ssh_reads_them(tmp_path):
    key, other = _key(), _key()
    plain = tmp_path / "known_hosts"
    hashed = paramiko.HostKeys.hash_host("[10.0.0.5]:2222")
    plain.write_text("\n".join([
        "# comment",
        f"edge01,10.0.0.4 ssh-ed25519 {key.get_base64()}",
        f"{hashed} ssh-ed25519 {key.get_base64()}",
        f"@cert-authority *.contoso.lab ssh-ed25519 {other.get_base64()}",
        f"@revoked 10.0.0.6 ssh-ed25519 {key.get_base64()}",
        "10.0.0.7 ssh-ed25519 not*base64",
        f"[10.0.0.8]:2222 ssh-ed25519 {other.get_base64()}",
    ]) + "\n")
    files = (str(plain), str(tmp_path / "absent"))
    assert hostkeys.verdict(hostkeys.read_known(files, "10.0.0.4"), key).status == "known"
    assert hostkeys.verdict(hostkeys.read_known(files, "[10.0.0.5]:2222"), key).status == "known"
    assert hostkeys.verdict(hostkeys.read_known(files, "10.0.0.5"), key).status == "unknown"  # port 22 is another name
    assert hostkeys.verdict(hostkeys.read_known(files, "10.0.0.6"), key).status == "revoked"
    assert hostkeys.verdict(hostkeys.read_known(files, "10.0.0.7"), key).status == "unknown"  # a line ssh cannot read
    changed = hostkeys.verdict(hostkeys.read_known(files, "[10.0.0.8]:2222"), key)
    assert changed.status == "changed" and [(k.file, k.line) for k in changed.others] == [(str(plain), 7)]
    assert hostkeys.host_name("EDGE01.Contoso.LAB", 22) == "edge01.contoso.lab"


def test_fingerprints_are_what_ssh_keygen_prints(tmp_path):
    key = _key()
    assert hostkeys.describe(key) == f"ED25519 key {key.fingerprint}"
    public = tmp_path / "key.pub"
    public.write_text(f"ssh-ed25519 {key.get_base64()}\n")
    try:
        done = subprocess.run(["ssh-keygen", "-lf", str(public)], capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("no ssh-keygen on this machine")  # the format is also paramiko's (PKey.fingerprint)
    assert done.stdout.split()[1] == hostkeys.fingerprint_of(key.asbytes())


def test_recording_and_replacing_keep_other_hosts(tmp_path):
    key, other = _key(), _key()
    file = tmp_path / "new" / "known_hosts"
    hostkeys.record(str(file), "[10.0.0.1]:2222", other)
    hostkeys.record(str(file), "edge02", other)
    assert hostkeys.replace(str(file), "[10.0.0.1]:2222", key) == 1
    lines = file.read_text().splitlines()
    assert lines == [f"edge02 ssh-ed25519 {other.get_base64()}", f"[10.0.0.1]:2222 ssh-ed25519 {key.get_base64()}"]


def test_a_private_key_is_read_as_a_bounded_regular_file_once_and_named_when_it_cannot_be(tmp_path):
    import os

    from exconf.sshkeys import KEY_FILE_LIMIT, KeyProblem, PrivateKeys

    asked: list[str] = []
    keys = PrivateKeys(ask=lambda prompt: asked.append(prompt) or "")
    good = tmp_path / "id_ed25519"
    text = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    good.write_bytes(text)
    first = keys.key(str(good), None, env={})
    good.write_bytes(b"changed after the first read")
    assert keys.key(str(good), None, env={}) is first  # read once per run
    big = tmp_path / "big"
    big.write_bytes(text + b"\n" * KEY_FILE_LIMIT)
    with pytest.raises(KeyProblem) as exc:
        keys.key(str(big), None, env={})
    assert str(exc.value) == f"ansible_ssh_private_key_file: the SSH private key {big} is larger than 64 KiB; exconf reads no bigger one"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(KeyProblem) as exc:
        keys.key(str(fifo), None, env={})  # never blocks on a FIFO
    assert f"the SSH private key {fifo} is a FIFO (named pipe), not a regular file" in str(exc.value)
    garbage = tmp_path / "garbage"
    garbage.write_text("not a key")
    with pytest.raises(KeyProblem, match="is not a private key exconf can read"):
        keys.key(str(garbage), None, env={})
    assert asked == []

"""Connection settings of a host reached over SSH, from ansible-core's ssh connection variables.

Names as ansible-core's ``ssh`` connection plugin reads them (plugins/connection/ssh.py; for a Windows
host, Ansible's Windows SSH guide): ``ansible_connection: ssh``; ``ansible_shell_type: powershell`` or
``cmd``, the server's DefaultShell; ``ansible_host``/``ansible_ssh_host``, ``ansible_port``/
``ansible_ssh_port`` (22), ``ansible_user``/``ansible_ssh_user``, ``ansible_password``/``ansible_ssh_pass``/
``ansible_ssh_password`` (or exconf's ``exconf_password_env``), ``ansible_private_key_file``/
``ansible_ssh_private_key_file``, ``ansible_ssh_timeout`` (10), ``ansible_host_key_checking``/
``ansible_ssh_host_key_checking``; where a plugin option has several names, the last one set wins, as
Ansible reads them. An encrypted key's passphrase comes from ``exconf_ssh_key_passphrase_env`` or a prompt
(sshkeys.py).

exconf is not the ``ssh`` program, so of the OpenSSH options in ``ansible_ssh_args``,
``ansible_ssh_common_args`` and ``ansible_ssh_extra_args`` it takes the ones about host keys:
``-o UserKnownHostsFile=…`` (paths relative to the inventory's folder, ``~`` the user's home),
``-o GlobalKnownHostsFile=…`` and ``-o StrictHostKeyChecking=yes|ask|accept-new``, the first value of
each winning as in ssh_config(5); ``-C`` and the ``Control*`` options (the ssh program's connection sharing:
exconf keeps one connection per host itself) change nothing. Any other option is refused when the
inventory loads, since exconf would not do what it says. Host keys are always checked: ``no``/``off``,
or ``ansible_host_key_checking: false``, are refused, as is ``ask`` taken as ``yes`` (exconf never asks
in the middle of a run; ``exconf ssh-keyscan`` accepts keys before it).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from .host import Host
from .sshkeys import KEYS, PASSPHRASE_VAR, KeyProblem, PrivateKeys
from .templating import RenderError
from .transport import hostkeys
from .transport.ssh import SSHSettings


SHELL_TYPES = ("powershell", "cmd")
ARGS_VARS = ("ansible_ssh_args", "ansible_ssh_common_args", "ansible_ssh_extra_args")  # in the order ssh sees them
_TAKEN = {"userknownhostsfile", "globalknownhostsfile", "stricthostkeychecking"}
_HARMLESS = {"controlmaster", "controlpersist", "controlpath"}
_STRICT = {"yes": "yes", "ask": "yes", "accept-new": "accept-new", "no": "no", "off": "no"}


class SSHConfigError(ValueError):
    """The SSH variables cannot be used; ``variable`` names the one to change."""

    def __init__(self, variable: str, message: str):
        super().__init__(message)
        self.variable = variable


def last_set(v: Mapping[str, object], *names: str) -> object:
    """The value of the last of ``names`` that is set, as Ansible resolves an option with several names."""
    found: object = None
    for name in names:
        if v.get(name) not in (None, ""):
            found = v[name]
    return found


def ssh_options(v: Mapping[str, object]) -> dict[str, tuple[str, str]]:
    """The OpenSSH ``-o`` options exconf takes, lower-cased name -> (value, variable); SSHConfigError for others."""
    options: dict[str, tuple[str, str]] = {}
    for variable in ARGS_VARS:
        raw = v.get(variable)
        if raw in (None, ""):
            continue
        try:
            words = shlex.split(str(raw))
        except ValueError as exc:
            raise SSHConfigError(variable, f"cannot be split into arguments as a shell would ({exc})") from None
        i = 0
        while i < len(words):
            word = words[i]
            if word == "-C":
                i += 1
                continue
            if word == "-o" or (word.startswith("-o") and len(word) > 2):
                if word == "-o":
                    if i + 1 >= len(words):
                        raise SSHConfigError(variable, "-o is not followed by an option")
                    text, i = words[i + 1], i + 2
                else:
                    text, i = word[2:], i + 1
                name, value = _option(text)
                key = name.lower()
                if key in _HARMLESS:
                    continue
                if key not in _TAKEN:
                    raise SSHConfigError(variable, f"-o {name} is an option of the ssh program, which exconf does not run "
                                                   "(it connects with paramiko); of ssh's options it takes UserKnownHostsFile, "
                                                   "GlobalKnownHostsFile and StrictHostKeyChecking: remove it")
                options.setdefault(key, (value, variable))  # ssh_config(5): the first value obtained is used
                continue
            raise SSHConfigError(variable, f"{word!r} is an argument of the ssh program, which exconf does not run (it "
                                           "connects with paramiko); it takes -o UserKnownHostsFile, -o GlobalKnownHostsFile "
                                           "and -o StrictHostKeyChecking: remove it")
    return options


def _option(text: str) -> tuple[str, str]:
    if "=" in text:
        name, value = text.split("=", 1)
    else:
        name, _, value = text.strip().partition(" ")
    return name.strip(), value.strip()


def inventory_issues(v: Mapping[str, object]) -> list[tuple[str, str]]:
    """What in a host's SSH variables exconf will not use, as (variable, message), before any host is contacted."""
    out: list[tuple[str, str]] = []
    shell = v.get("ansible_shell_type")
    if shell not in SHELL_TYPES:
        shown = "not set (Ansible's default is sh, a POSIX shell)" if shell in (None, "") else f"{shell!r}"
        out.append(("ansible_shell_type", f"{shown}; an Edge's Windows OpenSSH runs commands through its DefaultShell: "
                                          "set powershell (DefaultShell powershell.exe) or cmd (no DefaultShell, cmd.exe)"))
    checking = last_set(v, "ansible_host_key_checking", "ansible_ssh_host_key_checking")
    if checking is not None and str(checking).strip().lower() in ("false", "no", "0", "off", "n"):
        out.append(("ansible_host_key_checking", "false would connect to a server whose host key nobody checked; exconf "
                                                 "always checks it: accept the key with exconf ssh-keyscan, or use "
                                                 "StrictHostKeyChecking=accept-new in ansible_ssh_common_args"))
    try:
        options = ssh_options(v)
    except SSHConfigError as exc:
        out.append((exc.variable, str(exc)))
    else:
        strict = options.get("stricthostkeychecking")
        if strict is not None and _STRICT.get(strict[0].lower()) is None:
            out.append((strict[1], f"StrictHostKeyChecking={strict[0]} is not a value ssh knows (yes, ask, accept-new, no)"))
        elif strict is not None and _STRICT[strict[0].lower()] == "no":
            out.append((strict[1], f"StrictHostKeyChecking={strict[0]} would connect to a server whose host key nobody "
                                   "checked; exconf always checks it: accept the key with exconf ssh-keyscan, or use "
                                   "StrictHostKeyChecking=accept-new"))
    timeout = v.get("ansible_ssh_timeout")
    if timeout not in (None, "") and not _positive_int(timeout):
        out.append(("ansible_ssh_timeout", f"{timeout!r} is not a number of seconds"))
    return out


def _positive_int(value: object) -> bool:
    try:
        return int(str(value)) > 0
    except ValueError:
        return False


def ssh_settings(host: "Host", inventory_dir: Path, env: Mapping[str, str] = os.environ, *,
                 keys: PrivateKeys | None, credentials: bool = True) -> SSHSettings:
    """The host's SSH settings; ``keys`` None: the key is not read; ``credentials`` False: none is needed (to
    fetch a host key, which needs no logon). connection.py turns SSHConfigError into ConnectionConfigError."""
    v = host.vars
    problems = inventory_issues(v)
    if problems:
        raise SSHConfigError(*problems[0])
    user = last_set(v, "ansible_user", "ansible_ssh_user")
    if not user:
        raise SSHConfigError("ansible_user", "ansible_user is not set")
    password = last_set(v, "ansible_password", "ansible_ssh_pass", "ansible_ssh_password")
    env_name = v.get("exconf_password_env")
    if env_name:
        if env_name not in env:
            raise SSHConfigError("exconf_password_env", f"exconf_password_env names {env_name}, which is not set in the environment")
        password = env[str(env_name)]
    key_file = last_set(v, "ansible_private_key_file", "ansible_ssh_private_key_file")
    key_path = _path(str(key_file), inventory_dir, env) if key_file else None
    if password is None and key_path is None and credentials:
        raise SSHConfigError("ansible_password", "no credential: set ansible_ssh_private_key_file (a key in the server's "
                                                 "administrators_authorized_keys), exconf_password_env or ansible_password")
    key = None
    if key_path is not None and keys is not None:
        passphrase_env = v.get(PASSPHRASE_VAR)
        try:
            key = keys.key(key_path, str(passphrase_env) if passphrase_env else None, env)
        except KeyProblem as exc:
            raise SSHConfigError("ansible_ssh_private_key_file", str(exc)) from None
    options = ssh_options(v)
    user_files = _files(options.get("userknownhostsfile"), hostkeys.DEFAULT_USER_FILES, inventory_dir, env)
    global_files = _files(options.get("globalknownhostsfile"), hostkeys.DEFAULT_GLOBAL_FILES, inventory_dir, env)
    strict = _STRICT[options["stricthostkeychecking"][0].lower()] if "stricthostkeychecking" in options else "yes"
    port = last_set(v, "ansible_port", "ansible_ssh_port")
    timeout = v.get("ansible_ssh_timeout")
    return SSHSettings(
        host=str(last_set(v, "ansible_host", "ansible_ssh_host") or host.name),
        port=int(str(port)) if port not in (None, "") else 22,
        user=str(user),
        password=str(password) if password is not None else None,
        key=key,
        key_file=key_path,
        shell_type=str(v.get("ansible_shell_type")),
        user_known_hosts=user_files,
        global_known_hosts=global_files,
        accept_new=strict == "accept-new",
        timeout=int(str(timeout)) if timeout not in (None, "") else 10,
    )


def preload(hosts: "list[Host]", inventory_dir: Path, env: Mapping[str, str] = os.environ) -> None:
    """Read the private keys of the hosts reached over SSH now, in this (the main) thread, so that a passphrase
    prompt comes before any host is contacted; what cannot be read is each host's error later, when its
    executor is made (the answer is kept: nothing is asked twice)."""
    from .door import SSH, DoorError, door_of  # door is independent of this module; imported where used

    for host in hosts:
        try:
            if door_of(host.name, host.vars).connection == SSH and last_set(host.vars, "ansible_private_key_file",
                                                                           "ansible_ssh_private_key_file"):
                ssh_settings(host, inventory_dir, env, keys=KEYS)
        except (DoorError, SSHConfigError, RenderError):
            continue


def _files(option: tuple[str, str] | None, default: tuple[str, ...], inventory_dir: Path, env: Mapping[str, str]) -> tuple[str, ...]:
    if option is None:
        return tuple(hostkeys.expand(f, env.get("HOME")) for f in default)
    if option[0].lower() == "none":
        return ()
    return tuple(_path(f, inventory_dir, env) for f in shlex.split(option[0]))


def _path(name: str, inventory_dir: Path, env: Mapping[str, str]) -> str:
    expanded = hostkeys.expand(name, env.get("HOME"))
    return str((inventory_dir / expanded).resolve()) if not os.path.isabs(expanded) else expanded


def endpoint(host: "Host") -> str:
    """ssh://host:port, from the variables alone (nothing read, nothing asked)."""
    v = host.vars
    try:
        port = last_set(v, "ansible_port", "ansible_ssh_port")
        address = str(last_set(v, "ansible_host", "ansible_ssh_host") or host.name)
        return SSHSettings(host=address, port=int(str(port)) if port not in (None, "") else 22, user="").endpoint
    except (ValueError, RenderError):
        return str(v.get("ansible_host") or host.name)

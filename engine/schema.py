"""The inventory's JSON Schema, composed from the resource modules, and error reporting.

Every error names the file, line and column, the key, what was expected and
what was found, so that a 2 a.m. typo costs one glance.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jsonschema

from exconf.modules import ORGANIZATION, SERVER, by_scope

from .yamlsource import Document, PathKey

# Connection and engine variables exconf reads (Ansible's names, so inventories lift as they are).
CONNECTION_VARS: dict[str, dict[str, Any]] = {
    "ansible_host": {"type": "string", "description": "Address or DNS name to connect to (default: the inventory host name)."},
    "ansible_port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Port of the host's door: WinRM (5985 HTTP, 5986 HTTPS), SSH (22) or remote PowerShell (ansible_psrp_port wins)."},
    "ansible_user": {"type": "string", "description": "Account, as DOMAIN\\user or user@domain."},
    "ansible_password": {"type": "string", "description": "Password (prefer exconf_password_env)."},
    "ansible_connection": {"enum": ["winrm", "psrp", "ssh"], "description": "How to reach the server: psrp (Exchange remote PowerShell; the default for a Mailbox server), winrm (exconf's program; the default for an Edge) or ssh (exconf's program over Windows OpenSSH; Edge servers)."},
    "ansible_winrm_transport": {
        "anyOf": [
            {"enum": ["ntlm", "basic", "kerberos", "credssp", "certificate", "plaintext", "ssl"]},
            {"type": "array", "items": {"enum": ["ntlm", "basic", "kerberos", "credssp", "certificate", "plaintext", "ssl"]}},
        ],
        "description": "WinRM authentication: ntlm, kerberos, or basic over https (credssp is refused).",
    },
    "ansible_winrm_kerberos_delegation": {"type": ["boolean", "string"], "description": "Kerberos: forward the ticket so the server can reach Active Directory as you (a second hop). Default false."},
    "ansible_winrm_kerberos_hostname_override": {"type": "string", "minLength": 1, "description": "Kerberos: the DNS name of the server's HTTP/<name> principal (default: ansible_host if it is a name, else the inventory host name)."},
    "ansible_winrm_service": {"type": "string", "minLength": 1, "description": "Kerberos: the service part of the principal (default HTTP)."},
    "exconf_forbid_ntlm": {"type": "boolean", "description": "Refuse NTLM for these hosts (an estate that disabled NTLM): only Kerberos, or Basic over https."},
    "ansible_winrm_scheme": {"enum": ["http", "https"], "description": "Default: https on port 5986, otherwise http."},
    "ansible_winrm_path": {"type": "string", "description": "WinRM URL path (default /wsman)."},
    "ansible_winrm_server_cert_validation": {"enum": ["validate", "ignore"], "description": "HTTPS certificate validation."},
    "ansible_winrm_ca_trust_path": {"type": "string", "description": "PEM file of CA certificates to trust for HTTPS."},
    "ansible_winrm_message_encryption": {"enum": ["auto", "always", "never"], "description": "WinRM message encryption."},
    "ansible_winrm_connection_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Sets both timeouts below."},
    "ansible_winrm_operation_timeout_sec": {"type": "number", "exclusiveMinimum": 0},
    "ansible_winrm_read_timeout_sec": {"type": "number", "exclusiveMinimum": 0},
    "exconf_accept_cleartext": {"type": "boolean", "description": "Accept reaching this host over http without message encryption (never for a host given a secret)."},
    "ansible_psrp_auth": {"enum": ["negotiate", "kerberos", "ntlm", "basic", "credssp", "certificate"], "description": "Remote PowerShell authentication (default negotiate; basic only over https; credssp and certificate refused)."},
    "ansible_psrp_protocol": {"enum": ["http", "https"], "description": "Default: https on port 443 or 5986, otherwise http (Exchange's default)."},
    "ansible_psrp_port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Remote PowerShell port (default 80 for http, 443 for https: IIS)."},
    "ansible_psrp_path": {"type": "string", "description": "Remote PowerShell URL path (default PowerShell)."},
    "ansible_psrp_configuration_name": {"type": "string", "minLength": 1, "description": "Session configuration (default Microsoft.Exchange)."},
    "ansible_psrp_cert_validation": {"enum": ["validate", "ignore"], "description": "HTTPS certificate validation."},
    "ansible_psrp_ca_path": {"type": "string", "description": "PEM file of CA certificates to trust for HTTPS."},
    "ansible_psrp_message_encryption": {"enum": ["auto", "always", "never"], "description": "WS-Man message encryption (auto: over http)."},
    "ansible_psrp_connection_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds to connect (default 30)."},
    "ansible_psrp_operation_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "WS-Man OperationTimeout (default 20)."},
    "ansible_psrp_read_timeout": {"type": "number", "exclusiveMinimum": 0, "description": "Seconds one request may take as a whole (default 30); must exceed the operation timeout."},
    "ansible_psrp_negotiate_service": {"type": "string", "description": "Service class of the server's SPN (default HTTP)."},
    "ansible_psrp_negotiate_hostname_override": {"type": "string", "description": "Host name of the server's SPN."},
    "ansible_psrp_negotiate_delegate": {"type": "boolean", "description": "Ask for a delegable Kerberos ticket (default false)."},
    # ansible-core's ssh connection (docs/ssh.md); where an option has several names the last one set wins, as in Ansible.
    "ansible_shell_type": {"type": "string", "description": "ssh: the server's OpenSSH DefaultShell, powershell or cmd (required: Ansible's default, sh, is for POSIX hosts)."},
    "ansible_ssh_host": {"type": "string", "description": "ssh: address or DNS name to connect to (as ansible_host)."},
    "ansible_ssh_port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "ssh: port (as ansible_port; default 22)."},
    "ansible_ssh_user": {"type": "string", "description": "ssh: account (as ansible_user)."},
    "ansible_ssh_pass": {"type": "string", "description": "ssh: password (as ansible_password; prefer exconf_password_env or a key)."},
    "ansible_ssh_password": {"type": "string", "description": "ssh: password (as ansible_password)."},
    "ansible_private_key_file": {"type": "string", "description": "ssh: private key file (relative to the inventory's folder)."},
    "ansible_ssh_private_key_file": {"type": "string", "description": "ssh: private key file (relative to the inventory's folder); an encrypted key's passphrase comes from exconf_ssh_key_passphrase_env or a prompt."},
    "ansible_ssh_args": {"type": "string", "description": "ssh: OpenSSH options; exconf takes -o UserKnownHostsFile, GlobalKnownHostsFile and StrictHostKeyChecking (-C and Control* change nothing), and refuses others."},
    "ansible_ssh_common_args": {"type": "string", "description": "ssh: OpenSSH options, as ansible_ssh_args (e.g. -o UserKnownHostsFile=known_hosts)."},
    "ansible_ssh_extra_args": {"type": "string", "description": "ssh: OpenSSH options, as ansible_ssh_args."},
    "ansible_host_key_checking": {"type": ["boolean", "string"], "description": "ssh: host keys are always checked; false is refused (accept keys with exconf ssh-keyscan)."},
    "ansible_ssh_host_key_checking": {"type": ["boolean", "string"], "description": "ssh: as ansible_host_key_checking."},
    "ansible_ssh_timeout": {"type": ["integer", "string"], "description": "ssh: seconds to connect, and for each answer (default 10)."},
    "exconf_role": {"enum": ["Mailbox", "Edge"], "description": "The host's Exchange role, which decides its door before it is contacted (docs/remote-powershell.md)."},
    "exconf_site": {"type": "string", "minLength": 1, "description": "The Active Directory site of this Mailbox server, when the inventory knows it: the first host of each site an Edge is declared subscribed to reads that site's EdgeSync state in its one read; without it a host that says no site is the guess (docs/edgesync.md)."},
    "exconf_password_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "Environment variable holding the password."},
    "exconf_ssh_key_passphrase_env": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "ssh: environment variable holding the private key's passphrase (otherwise asked at a prompt)."},
    "exconf_lab": {"type": "string", "description": "Lab organisation file (relative to the inventory) to start when it is not running."},
    "exconf_organization": {"type": "string", "minLength": 1, "description": "Organisation name for the apply lock (default: the inventory file's name)."},
}


def _section_schema(scope: str) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {r.section: r.schema() for r in by_scope(scope)},
    }


@lru_cache(maxsize=1)
def vars_schema() -> dict[str, Any]:
    """Schema of one block of variables (a group's vars, a host's vars, a group_vars file)."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "exconf variables",
        "type": "object",
        "properties": {
            **CONNECTION_VARS,
            "exchange": {**_section_schema(SERVER), "description": "Desired state of each server."},
            "exchange_organization": {
                **_section_schema(ORGANIZATION),
                "description": "Organisation-wide desired state; declare it in the all group.",
            },
        },
        "propertyNames": {"type": "string"},
    }


def inventory_schema() -> dict[str, Any]:
    """Schema of an Ansible-shaped inventory file, with vars per vars_schema (for docs and editors)."""
    group: dict[str, Any] = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": {
            "hosts": {"type": ["object", "null"], "additionalProperties": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/vars"}]}},
            "vars": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/vars"}]},
            "children": {"type": ["object", "null"], "additionalProperties": {"$ref": "#/$defs/group"}},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "exconf inventory",
        "type": "object",
        "additionalProperties": {"$ref": "#/$defs/group"},
        "$defs": {"group": group, "vars": {k: v for k, v in vars_schema().items() if k != "$schema"}},
    }


@dataclass(frozen=True)
class Issue:
    """One validation error, ready to print."""

    where: str  # file:line:column
    path: str  # dotted key path
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else f"{self.where}: {self.message}"


def dotted(path: PathKey) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "").isalnum():
            out += ("." if out else "") + part
        else:
            out += f"[{part!r}]"
    return out


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# A value under a key with one of these in its name is a secret (Ansible's ansible_password,
# ansible_become_pass, ansible_ssh_pass; exconf_password_env, whose value is a password when typed
# there by mistake; a future pfx_password). Errors about it say where and what type, never what.
_SECRET_NAME = re.compile(r"password|passwd|passphrase|secret|(^|_)pass$", re.IGNORECASE)


def is_secret(path: PathKey) -> bool:
    """True when any key on the path names a secret, so that no message may show the value."""
    return any(isinstance(part, str) and _SECRET_NAME.search(part) for part in path)


def _kind(value: Any) -> str:
    """What a value is, without what it says (for secrets)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return _describe(value)


def _expected(schema: dict[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("x-exchange-type")
    if kind == "EnhancedTimeSpan":
        return "a time span such as 30.00:00:00 (days.hours:minutes:seconds)"
    if kind and "ByteQuantifiedSize" in kind:
        return "a size such as 250 MB" + (" or Unlimited" if "Unlimited" in kind else "")
    if kind == "LocalLongFullPath":
        return "a full local path such as D:\\Logs\\SmtpSend"
    if "anyOf" in schema:
        return " or ".join(_expected(s) for s in schema["anyOf"])
    t = schema.get("type")
    names = {"string": "a string", "integer": "a whole number", "number": "a number", "object": "a mapping", "array": "a list", "boolean": "true or false", "null": "nothing"}
    if isinstance(t, list):
        return " or ".join(names.get(x, str(x)) for x in t)
    if t == "string" and "pattern" in schema:
        return "a string matching " + schema["pattern"]
    return names.get(t, "a valid value") if t else "a valid value"


_RANGE = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def range_text(schema: dict[str, Any]) -> str:
    """A number's range as the schema gives it: "must be between 1 and 65,535", "must be more than 0"."""
    lo, hi = schema.get("minimum"), schema.get("maximum")
    if lo is not None and hi is not None:
        return f"must be between {lo:,} and {hi:,}"
    parts = []
    if lo is not None:
        parts.append(f"at least {lo:,}")
    if schema.get("exclusiveMinimum") is not None:
        parts.append(f"more than {schema['exclusiveMinimum']:,}")
    if hi is not None:
        parts.append(f"at most {hi:,}")
    if schema.get("exclusiveMaximum") is not None:
        parts.append(f"less than {schema['exclusiveMaximum']:,}")
    return "must be " + " and ".join(parts)


def validate_block(doc: Document, base: PathKey, value: Any, schema: dict[str, Any]) -> list[Issue]:
    """Validate ``value`` (found at ``base`` in ``doc``) and turn each error into an Issue."""
    validator = jsonschema.Draft202012Validator(schema)
    issues: list[Issue] = []
    for err in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.absolute_path))):
        issues.extend(_issues_for(doc, base, err))
    return issues


def _schema_of(err: jsonschema.ValidationError) -> dict[str, Any]:
    """The subschema that failed; a boolean schema (``false``) has no keywords to describe."""
    return dict(err.schema) if isinstance(err.schema, Mapping) else {}


def _issues_for(doc: Document, base: PathKey, err: jsonschema.ValidationError) -> list[Issue]:
    path = base + tuple(err.absolute_path)
    where = str(doc.where(path))
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = list(_schema_of(err).get("properties", {}))
        extra = [k for k in err.instance if k not in allowed]
        out = []
        for key in extra:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            known = f"did you mean {close[0]!r}?" if close else ("expected one of: " + ", ".join(allowed) if allowed else "no keys are allowed here")
            out.append(Issue(str(doc.where_key(path + (key,))), dotted(path), f"unknown key {key!r}; {known}"))
        return out
    if err.validator == "minProperties" and err.validator_value == 1:
        return [Issue(where, dotted(path), "is empty; declare at least one property or remove it")]
    if err.validator in ("anyOf", "oneOf") and err.context:
        # Prefer the branch that got furthest (deepest path) for a precise message.
        # (context errors carry their full path, so they resolve like any other).
        deepest = max(err.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) > len(err.absolute_path):
            return _issues_for(doc, base, deepest)
    if is_secret(path):
        return [_secret_issue(doc, path, err)]
    found = _describe(err.instance)
    scalar = doc.scalars.get(path)
    hint = ""
    if scalar is not None and scalar.sexagesimal and isinstance(err.instance, (int, float)):
        hint = f" (YAML reads the unquoted {scalar.text} as a base-60 number; put it in quotes: \"{scalar.text}\")"
    elif scalar is not None and scalar.plain and isinstance(err.instance, bool) and scalar.text.lower() in ("yes", "no", "on", "off"):
        hint = f" (YAML reads the unquoted {scalar.text} as a boolean; put it in quotes)"
    if err.validator == "uniqueItems":
        return [Issue(where, dotted(path), "lists the same item twice")]
    if err.validator in _RANGE and isinstance(err.instance, (int, float)) and not isinstance(err.instance, bool):
        return [Issue(where, dotted(path), f"{err.instance!r} is out of range: {range_text(_schema_of(err))}")]
    if err.validator == "required":
        return [Issue(where, dotted(path), err.message)]
    return [Issue(where, dotted(path), f"expected {_expected(_schema_of(err))}, found {found}{hint}")]


def _secret_issue(doc: Document, path: PathKey, err: jsonschema.ValidationError) -> Issue:
    """The error for a secret's value: where it is and what type it has; never the value, nor YAML's text of it."""
    where, at = str(doc.where(path)), dotted(path)
    hidden = " (the value is not shown: it may be a password)"
    if err.validator == "pattern" and isinstance(err.instance, str):
        if _schema_of(err).get("pattern") == CONNECTION_VARS["exconf_password_env"]["pattern"]:
            return Issue(where, at, "expected the name of an environment variable (letters, digits and _, not starting with a digit), found another string" + hidden)
        return Issue(where, at, f"expected {_expected(_schema_of(err))}, found another string{hidden}")
    scalar = doc.scalars.get(path)
    hint = ""
    if scalar is not None and scalar.plain and not isinstance(err.instance, str) and isinstance(err.instance, (bool, int, float)):
        hint = "; YAML reads an unquoted value such as this one as " + ("a boolean" if isinstance(err.instance, bool) else "a number") + ": put it in quotes"
    return Issue(where, at, f"expected {_expected(_schema_of(err))}, found {_kind(err.instance)}{hint}{hidden}")


def main() -> None:
    """Print the inventory's JSON Schema (docs/inventory.schema.json is this output)."""
    import json

    print(json.dumps(inventory_schema(), indent=2))


if __name__ == "__main__":
    main()

"""Reading and validating a lab organisation file.

The file is YAML, checked against the JSON Schema ``lab/orgfile.schema.json`` (unknown
keys are errors) and then for what a schema cannot say (unique names and
addresses, servers that connectors refer to, values Exchange would refuse).
Every error names the file, the line and column, the key, and what was expected.

Shape (everything but ``servers`` is optional; a server needs only ``name`` and ``role``)::

    organization: {name: Contoso, domain: contoso.lab, netbios: CONTOSO, domain_controller: DC01.contoso.lab}
    accounts:                      # domain accounts: may log on to every Mailbox server
      - {user: exadmin, password: "...", role_groups: [Organization Management]}   # RBAC of /PowerShell
    servers:
      - {name: EX01, role: Mailbox, site: Amsterdam, address: 127.42.0.11}
      - name: EDGE01
        role: Edge
        fqdn: edge01.dmz.contoso.lab        # default: <name>.<organization.domain>
        subscribed: true                    # EdgeSync-subscribed to its site (default false)
        local_accounts: [{user: Administrator, password: "..."}]
        domain_joined: false                # true: domain accounts may log on too
        send_connectors: []                 # an unsubscribed Edge's own connectors
      # per server, optional: version (15.2.1544.4), edition (Standard), site (Default-First-Site-Name),
      # address (127.42.0.<n> in file order), codepage (437),
      # winrm: {http_port: 5985, https_port: 5986, basic: false, allow_unencrypted: false},
      # iis: {http_port: 80, https_port: 443} (Mailbox: where /PowerShell is served),
      # ssh: {port: 22, default_shell: cmd | powershell, password_authentication: true,
      #       administrators_authorized_keys: ["ssh-ed25519 AAAA... comment"]} (Edge: Windows OpenSSH Server),
      # certificate_serialization: signed | plain | none (Mailbox: Get-ExchangeCertificate over /PowerShell),
      # faults: {unreachable, refuse_credentials, delay_seconds, constrained_language, ssh_host_key_changed, ignores_first_token,
      #          cmdlets: [{cmdlet: Set-ReceiveConnector, message: "...", times: 1, exception: ...}]}
    send_connectors:               # organisation send connectors beyond those EdgeSync creates
      - {name: "Outbound to Fabrikam", address_spaces: ["SMTP:fabrikam.com;1"], source_transport_servers: [EX01]}
    transport_config: {tls_send_domain_secure_list: [], tls_receive_domain_secure_list: []}
"""

from __future__ import annotations

import codecs
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import certificate_store, rbac, send_connectors, transport_config
from .cmdlets import CMDLETS
from .kinds import DeclarationError
from .spec import (
    Account, CmdletFault, Faults, IISSettings, OrgFileError, Organization, OrgSpec, PowerShellVdir, ServerEntry,
    ServerSpec, SSHSettings, WinRMSettings,
)

DEFAULT_VERSION = "15.2.1544.4"
DEFAULT_SITE = "Default-First-Site-Name"
DEFAULT_CODEPAGE = 437

KeyPath = tuple[Any, ...]


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The organisation file's JSON Schema (lab/orgfile.schema.json, package data of exconf.lab)."""
    return json.loads(resources.files("exconf.lab").joinpath("orgfile.schema.json").read_text(encoding="utf-8"))


def load(path: Path) -> OrgSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrgFileError(f"{path}: cannot read the organisation file: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise OrgFileError(f"{path}: the organisation file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    doc = _Document(path, text)
    doc.check_schema()
    return _Builder(doc).build()


# --- YAML with positions -------------------------------------------------------------------------


# Far above any organisation file, far below exhausting memory or Python's recursion limit.
MAX_DEPTH = 100
MAX_ALIAS_EXPANSION = 100_000


class _TooDeep(Exception):
    def __init__(self, mark: yaml.Mark):
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, stopping before its recursive composer nests deeper than MAX_DEPTH."""

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0
        self.composed = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        self.composed += 1
        if self.depth > MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class _Document:
    """The YAML data plus the position of every value and key."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.marks: dict[KeyPath, yaml.Mark] = {}
        self.key_marks: dict[KeyPath, yaml.Mark] = {}
        try:
            loader = _BoundedLoader(text)
        except yaml.reader.ReaderError as exc:
            line = text.count("\n", 0, exc.position) + 1
            column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
            raise OrgFileError(f"{path}:{line}:{column}: not valid YAML: control character #x{exc.character:04x}") from None
        try:
            node = loader.get_single_node()
        except _TooDeep as exc:
            raise OrgFileError(f"{self._where(exc.mark)}: nested deeper than {MAX_DEPTH} levels") from None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise OrgFileError(f"{self._where(mark)}: not valid YAML: {exc.problem or exc.context}") from None
        finally:
            loader.dispose()
        if node is None:
            raise OrgFileError(f"{path}:1:1: the organisation file is empty; expected a mapping with 'servers'")
        self._loader = yaml.SafeLoader("")
        # An alias repeats a node; a "billion laughs" file composes to a few dozen nodes and expands to 10^9.
        self._budget = loader.composed + MAX_ALIAS_EXPANSION
        self._open: set[int] = set()
        self.data = self._value(node, ())

    def _value(self, node: yaml.Node, path: KeyPath) -> Any:
        self._budget -= 1
        if self._budget < 0:
            raise OrgFileError(f"{self._where(node.start_mark)}: aliases repeat more than {MAX_ALIAS_EXPANSION} values; the lab refuses the file")
        if len(path) > MAX_DEPTH or id(node) in self._open:
            raise OrgFileError(f"{self._where(node.start_mark)}: an alias refers to the value that contains it, or nests deeper than {MAX_DEPTH} levels")
        self.marks[path] = node.start_mark
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        self._open.add(id(node))
        try:
            return self._collection(node, path)
        finally:
            self._open.discard(id(node))

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise OrgFileError(f"{self._where(node.start_mark)}: {exc.problem}") from None
        except (ValueError, TypeError, OverflowError):
            tag = node.tag.rsplit(":", 1)[-1]
            raise OrgFileError(f"{self._where(node.start_mark)}: not a valid {tag}; put the value in quotes") from None

    def _collection(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise OrgFileError(f"{self._where(key_node.start_mark)}: keys must be strings, got a {key_node.id}")
                key = self._scalar(key_node)
                if not isinstance(key, str):
                    raise OrgFileError(f"{self._where(key_node.start_mark)}: keys must be strings, got {key!r}")
                if key in out:
                    raise OrgFileError(f"{self._where(key_node.start_mark)}: duplicate key '{key}'")
                self.key_marks[path + (key,)] = key_node.start_mark
                out[key] = self._value(value_node, path + (key,))
            return out
        return [self._value(item, path + (i,)) for i, item in enumerate(node.value)]

    def _where(self, mark: yaml.Mark | None) -> str:
        if mark is None:
            return str(self.path)
        return f"{self.path}:{mark.line + 1}:{mark.column + 1}"

    def at(self, path: KeyPath, key: bool = False) -> str:
        """"file:line:col: servers[0].role" for a value (or its key)."""
        mark = (self.key_marks if key else self.marks).get(path)
        while mark is None and path:
            path = path[:-1]
            mark = self.marks.get(path)
        return f"{self._where(mark)}: {dotted(path)}"

    def error(self, path: KeyPath, message: str, key: bool = False) -> OrgFileError:
        return OrgFileError(f"{self.at(path, key)}: {message}")

    def check_schema(self) -> None:
        validator = jsonschema.Draft202012Validator(schema())
        problems = []
        for err in validator.iter_errors(self.data):
            path = tuple(err.absolute_path)
            problems.append(_describe(self, err, path))
        if problems:
            problems.sort(key=lambda p: p[0])
            raise OrgFileError("\n".join(text for _, text in problems[:20]))


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


_TYPE_WORDS = {
    "string": "a string", "integer": "an integer", "number": "a number", "boolean": "true or false",
    "array": "a list", "object": "a mapping", "null": "null",
}


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing (null)"
    return f"{type(value).__name__} {value!r}"


_SECRET_KEYS = ("accounts", "local_accounts")  # a string there, other than a user name, may be a password


def _describe(doc: _Document, err: jsonschema.ValidationError, path: KeyPath) -> tuple[tuple[int, int], str]:
    """A schema error as a user-ready line, with its position for sorting."""
    secret = isinstance(err.instance, str) and path[-1:] != ("user",) and any(p in _SECRET_KEYS for p in path)
    got = "a string" if secret else _kind_of(err.instance)  # never echo what may be a password
    key_position = False
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))[0]
        path, key_position = path + (extra,), True
        message = f"unknown key '{extra}'; expected one of: {', '.join(allowed)}"
    elif err.validator == "required":
        message = f"missing required key {err.message.split(' is a required')[0]}"
    elif err.validator == "enum":
        message = f"expected one of {', '.join(map(str, err.validator_value))}, got {got}"
    elif err.validator == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        message = f"expected {' or '.join(_TYPE_WORDS[w] for w in wanted)}, got {got}"
    elif "x-expected" in err.schema and err.validator in ("pattern", "maxLength", "minLength"):
        message = f"expected {err.schema['x-expected']}, got {got}"
    elif err.validator == "minItems":
        message = f"expected at least {err.validator_value} item(s)"
    elif secret:
        message = "expected a non-empty string" if err.validator == "minLength" else f"the value fails '{err.validator}'"
    else:
        message = err.message
    mark = (doc.key_marks if key_position else doc.marks).get(path) or doc.marks.get(())
    position = (mark.line, mark.column) if mark else (0, 0)
    return position, f"{doc.at(path, key_position)}: {message}"


# --- building the organisation -----------------------------------------------------------------------


class _Builder:
    def __init__(self, doc: _Document):
        self.doc = doc
        self.data: dict[str, Any] = doc.data

    def build(self) -> OrgSpec:
        raw_org = self.data.get("organization", {})
        domain = raw_org.get("domain", "contoso.lab")
        organization = Organization(
            name=raw_org.get("name", "Contoso"),
            domain=domain,
            netbios=raw_org.get("netbios", domain.split(".")[0][:15]).upper(),
            domain_controller=raw_org.get("domain_controller", ""),
        )
        domain_accounts = tuple(
            Account(organization.netbios, a["user"], a["password"], tuple(a.get("role_groups", rbac.DEFAULT_ROLE_GROUPS)))
            for a in self.data.get("accounts", [])
        )
        entries = tuple(self._server(i, raw, organization, domain_accounts) for i, raw in enumerate(self.data["servers"]))
        self._unique(entries)
        return OrgSpec(
            path=self.doc.path,
            organization=organization,
            accounts=domain_accounts,
            servers=entries,
            send_connectors=self._unique_names(("send_connectors",), tuple(
                self._send_connector(("send_connectors", i), raw, entries)
                for i, raw in enumerate(self.data.get("send_connectors", []))
            )),
            transport_config=self._declare(
                ("transport_config",), transport_config.KIND, transport_config.DECLARABLE,
                self.data.get("transport_config", {}),
            ),
            keytabs=(self.doc.path.parent / self.data["kerberos"]["keytabs"]) if "kerberos" in self.data else None,
        )

    def _server(self, index: int, raw: dict[str, Any], org: Organization, domain_accounts: tuple[Account, ...]) -> ServerEntry:
        at = ("servers", index)
        name, role = raw["name"], raw["role"]
        edge = role == "Edge"
        if edge and "powershell_virtual_directory" in raw:
            raise self.doc.error(at + ("powershell_virtual_directory",), "an Edge server has no PowerShell virtual "
                                 "directory (its shell is the local snap-in)", key=True)
        if not edge:
            for key in ("subscribed", "domain_joined", "send_connectors"):
                if key in raw:
                    raise self.doc.error(at + (key,), f"only an Edge server takes '{key}' (a Mailbox server is "
                                                      "domain-joined and uses the organisation's send connectors)", key=True)
        codepage = raw.get("codepage", DEFAULT_CODEPAGE)
        try:
            codecs.lookup(python_codec(codepage))
        except LookupError:
            raise self.doc.error(at + ("codepage",), f"code page {codepage} is not supported; expected a Windows "
                                                      "console code page such as 437, 850, 1252 or 65001") from None
        for i, account in enumerate(raw.get("local_accounts", [])):
            if "role_groups" in account:
                raise self.doc.error(at + ("local_accounts", i, "role_groups"),
                                     "a local account holds no Exchange role group (RBAC assigns roles to Active "
                                     "Directory accounts); give role_groups to a domain account under accounts",
                                     key=True)
        for key in ("iis", "certificate_serialization"):
            if edge and key in raw:
                raise self.doc.error(at + (key,), f"only a Mailbox server takes '{key}' (an Edge Transport server "
                                                  "runs no IIS and serves no /PowerShell)", key=True)
        local = tuple(Account(name.upper(), a["user"], a["password"]) for a in raw.get("local_accounts", []))
        iis = None if edge else IISSettings(**raw.get("iis", {}))
        winrm_ports = {p for p in (raw.get("winrm", {}).get("http_port", 5985), raw.get("winrm", {}).get("https_port", 5986)) if p}
        if iis is not None:
            for key in ("http_port", "https_port"):
                if getattr(iis, key) in winrm_ports:
                    raise self.doc.error(at + ("iis", key) if key in raw.get("iis", {}) else at,
                                         f"IIS's {key} {getattr(iis, key)} is also a WinRM port of this server; "
                                         "IIS and the WinRM service listen on different ports")
        accounts = local + (domain_accounts if (not edge or raw.get("domain_joined", False)) else ())
        ssh = self._ssh(at, raw, edge, winrm_ports | ({iis.http_port, iis.https_port} if iis is not None else set()))
        winrm = WinRMSettings(**raw.get("winrm", {}))
        raw_faults = raw.get("faults", {})
        faults = Faults(**{k: v for k, v in raw_faults.items() if k != "cmdlets"})
        cmdlet_faults = []
        for i, fault in enumerate(raw_faults.get("cmdlets", [])):
            known = CMDLETS.get(fault["cmdlet"].lower())
            if known is None:
                raise self.doc.error(at + ("faults", "cmdlets", i, "cmdlet"),
                                     f"the lab has no cmdlet '{fault['cmdlet']}'; expected one of: "
                                     f"{', '.join(c.name for c in CMDLETS.values())}")
            cmdlet_faults.append(CmdletFault(known.name, fault["message"], fault.get("times"),
                                             fault.get("exception", "InvalidOperationException")))
        spec = ServerSpec(
            name=name,
            fqdn=raw.get("fqdn", f"{name.lower()}.{org.domain}"),
            role=role,
            version=raw.get("version", DEFAULT_VERSION),
            site=raw.get("site", DEFAULT_SITE),
            address=raw.get("address", f"127.42.{(index + 1) >> 8}.{(index + 1) & 255}"),
            codepage=codepage,
            winrm=winrm,
            faults=faults,
            accounts=accounts,
            powershell_vdir=PowerShellVdir(**raw.get("powershell_virtual_directory", {})),
            iis=iis,
            ssh=ssh,
        )
        subscribed = bool(raw.get("subscribed", False))
        own_connectors = self._unique_names(at + ("send_connectors",), tuple(
            self._edge_connector(at + ("send_connectors", i), c) for i, c in enumerate(raw.get("send_connectors", []))
        ))
        if subscribed and own_connectors:
            raise self.doc.error(at + ("send_connectors",), "a subscribed Edge has no send connectors of its own "
                                                            "(EdgeSync replaces them); declare them in the organisation",
                                 key=True)
        declared = certificate_store.declare(
            raw.get("certificates", []), lambda path, message: self.doc.error(at + ("certificates",) + path, message))
        return ServerEntry(spec, subscribed=subscribed, edition=raw.get("edition", "Standard"),
                           cmdlet_faults=tuple(cmdlet_faults), send_connectors=own_connectors, certificates=declared,
                           certificate_serialization=raw.get("certificate_serialization", "signed"))

    def _ssh(self, at: KeyPath, raw: dict[str, Any], edge: bool, other_ports: set[int]) -> SSHSettings | None:
        """The server's Windows OpenSSH Server, if the file installs it."""
        if "ssh" not in raw:
            return None
        if not edge:
            # Over SSH a Mailbox server's Exchange cmdlets would run in exconf's program through the snap-in, reading
            # Active Directory as the user: a key logon holds no credential another server accepts (the double hop:
            # "SSH keys ... suffer from the double-hop issue", Ansible's Windows SSH guide; PowerShell/Win32-OpenSSH#518,
            # "by design"). The lab does not model that second hop for an SSH logon, so it serves SSH on Edge servers
            # only, where cmdlets read the local AD LDS; exconf reaches Mailbox servers through /PowerShell.
            raise self.doc.error(at + ("ssh",), "the lab serves SSH on Edge servers only: over SSH a Mailbox server's "
                                                "Exchange cmdlets need Active Directory as the user (the double hop), "
                                                "which the lab does not model for an SSH logon; exconf reaches Mailbox "
                                                "servers through Exchange remote PowerShell", key=True)
        section = raw["ssh"] or {}
        settings = SSHSettings(
            port=section.get("port", 22),
            default_shell=section.get("default_shell", "cmd"),
            password_authentication=section.get("password_authentication", True),
            administrators_authorized_keys=tuple(section.get("administrators_authorized_keys", [])),
        )
        if settings.port in other_ports:
            raise self.doc.error(at + ("ssh", "port") if "port" in section else at + ("ssh",),
                                 f"SSH's port {settings.port} is also a WinRM port of this server; sshd and the WinRM "
                                 "service listen on different ports")
        from exconf.lab.ssh.keys import KeyLineError, parse_public_key  # paramiko, only for a file that installs sshd

        for i, line in enumerate(settings.administrators_authorized_keys):
            try:
                parse_public_key(line)
            except KeyLineError as exc:
                raise self.doc.error(at + ("ssh", "administrators_authorized_keys", i), str(exc)) from None
        return settings

    def _unique(self, entries: tuple[ServerEntry, ...]) -> None:
        seen: dict[str, dict[str, int]] = {"name": {}, "fqdn": {}, "address": {}}
        for i, entry in enumerate(entries):
            for key, value in (("name", entry.spec.name.lower()), ("fqdn", entry.spec.fqdn.lower()),
                               ("address", entry.spec.address)):
                if value in seen[key]:
                    where = ("servers", i, key) if key in self.data["servers"][i] else ("servers", i)
                    raise self.doc.error(where, f"{key} {value!r} is already used by servers[{seen[key][value]}]; "
                                                f"expected a unique {key}")
                seen[key][value] = i

    def _unique_names(self, at: KeyPath, connectors: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
        """Connector names are unique without regard to case, as Exchange's are: a connector is an AD
        object whose name is its CN, and AD compares RDNs case-insensitively, so New-SendConnector with
        a name in use only by case fails (ADObjectAlreadyExistsException, as Set-SendConnector -Name
        does in send_connectors._validate)."""
        seen: dict[str, int] = {}
        for i, values in enumerate(connectors):
            key = values["Name"].lower()
            if key in seen:
                first = connectors[seen[key]]["Name"]
                raise self.doc.error(at + (i, "name"), f"the name {values['Name']!r} is already used by "
                                     f"{dotted(at + (seen[key],))} "
                                     f"({first!r}); connector names are unique without regard to case, as in "
                                     "Exchange (the directory object would already exist)")
            seen[key] = i
        return connectors

    def _declare(self, at: KeyPath, kind: Any, names: dict[str, str], raw: dict[str, Any]) -> dict[str, Any]:
        try:
            return kind.declare({names[k]: v for k, v in raw.items()})
        except DeclarationError as exc:
            key = next(k for k, n in names.items() if n == exc.prop)
            raise self.doc.error(at + (key,), str(exc)) from None

    def _edge_connector(self, at: KeyPath, raw: dict[str, Any]) -> dict[str, Any]:
        if "source_transport_servers" in raw:
            raise self.doc.error(at + ("source_transport_servers",), "an Edge's own send connector has no source "
                                                                     "servers (it is the source)", key=True)
        values = self._declare(at, send_connectors.KIND, send_connectors.DECLARABLE, raw)
        self._needs_address_spaces(at, values)
        return values

    def _send_connector(self, at: KeyPath, raw: dict[str, Any], entries: tuple[ServerEntry, ...]) -> dict[str, Any]:
        values = self._declare(at, send_connectors.KIND, send_connectors.DECLARABLE, raw)
        self._needs_address_spaces(at, values)
        usable = {e.name: e for e in entries if not e.is_edge or e.subscribed}
        sources = []
        for i, name in enumerate(values.get("SourceTransportServers", ())):
            if name.upper() not in usable:
                raise self.doc.error(at + ("source_transport_servers", i),
                                     f"no Mailbox server or subscribed Edge named {name!r}; expected one of: "
                                     f"{', '.join(sorted(usable))}")
            sources.append(name.upper())
        if not sources:
            raise self.doc.error(at, "missing required key 'source_transport_servers' (at least one server)")
        if len({usable[s].is_edge for s in sources}) > 1:
            raise self.doc.error(at + ("source_transport_servers",), "source servers must be all Mailbox servers "
                                                                     "or all Edge servers")
        values["SourceTransportServers"] = tuple(sources)
        return values

    def _needs_address_spaces(self, at: KeyPath, values: dict[str, Any]) -> None:
        if not values.get("AddressSpaces"):
            raise self.doc.error(at, "missing required key 'address_spaces' (at least one address space)")


def python_codec(codepage: int) -> str:
    """The Python codec of a Windows code page."""
    return {65001: "utf-8", 1200: "utf-16-le", 20127: "ascii", 28591: "latin-1"}.get(codepage, f"cp{codepage}")

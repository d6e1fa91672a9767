"""Role Based Access Control: which of the lab's cmdlets an account may run through ``/PowerShell``.

Exchange authorises a remote PowerShell session by its caller's management roles, assigned
through role groups; the session holds only the cmdlets (and parameters) of those roles, so a
cmdlet outside them is simply not in the session: PowerShell answers CommandNotFoundException
("The term 'import-mailbox' is not recognized as the name of a cmdlet, …" for an Organization
Management member running a cmdlet of a role not assigned to it, Exchange Team blog,
blogs.technet.com/b/exchange/archive/2010/03/26/3409621.aspx). An account that holds no role at all
cannot open the session: ``CmdletAccessDeniedException: The user "…" isn't assigned to any
management roles.`` (Microsoft KB 2898571, "Error occurs in EMS, EAC, ECP, OWA …").

Which role groups a feature needs comes from Microsoft's feature-permission tables
(MicrosoftDocs/OfficeDocs-Exchange, Exchange/ExchangeServer/permissions/feature-permissions/
mail-flow-permissions.md and infrastructure-permissions.md, read through the fork
x13-me/OfficeDocs-Exchange @ 0905248/072868a): "If a feature lists more than one role group, you
only need to be assigned one of the role groups", and "Users who are assigned the View-Only
Management role group can view the configuration of the features" (the lab gives View-Only
Organization Management the features' Get- cmdlets). RBAC applies only to remote PowerShell: the
snap-in loaded in a WinRM shell and an Edge's local shell are outside it (Edge: "Edge Transport
servers don't use Role Based Access Control", mail-flow-permissions.md).

Simplification: every role the lab knows covers all parameters of its cmdlets, so a parameter is
refused only when the cmdlet has none of that name (PowerShell's own binding error); role scopes
are the whole organisation.
"""

from __future__ import annotations

from dataclasses import dataclass

ORGANIZATION_MANAGEMENT = "Organization Management"
VIEW_ONLY = "View-Only Organization Management"
SERVER_MANAGEMENT = "Server Management"
RECIPIENT_MANAGEMENT = "Recipient Management"
RECORDS_MANAGEMENT = "Records Management"
HYGIENE_MANAGEMENT = "Hygiene Management"

# Exchange 2016/2019's built-in role groups (role-groups.md of the same documentation set).
ROLE_GROUPS = (
    "Compliance Management", "Delegated Setup", "Discovery Management", "Help Desk", HYGIENE_MANAGEMENT,
    ORGANIZATION_MANAGEMENT, "Public Folder Management", RECIPIENT_MANAGEMENT, RECORDS_MANAGEMENT,
    SERVER_MANAGEMENT, "UM Management", VIEW_ONLY,
)
# The account that installs Exchange is a member of Organization Management ("By default, the account
# that's used to install Exchange ... is added as a member of the Organization Management role group",
# organization-management-exchange-2013-help.md): an org-file account without role_groups is that one.
DEFAULT_ROLE_GROUPS = (ORGANIZATION_MANAGEMENT,)


@dataclass(frozen=True)
class Feature:
    """A row of Microsoft's feature-permission tables: the role groups that manage it, and whether
    View-Only Organization Management may run its Get- cmdlets."""

    name: str
    groups: tuple[str, ...]
    viewable: bool = True


_SERVERS = Feature("Exchange server configuration settings", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT))
_SEND = Feature("Send connectors", (ORGANIZATION_MANAGEMENT,))
_RECEIVE = Feature("Receive connectors", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT, HYGIENE_MANAGEMENT))
_TRANSPORT = Feature("Transport service", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT, HYGIENE_MANAGEMENT))
_FRONTEND = Feature("Front End Transport service", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT, HYGIENE_MANAGEMENT))
_CONFIG = Feature("Transport configuration", (ORGANIZATION_MANAGEMENT,))
_CERTIFICATES = Feature("Certificate management", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT))
_EDGESYNC = Feature("EdgeSync", (ORGANIZATION_MANAGEMENT,))
_AUDIT = Feature("View-only administrator audit logging", (ORGANIZATION_MANAGEMENT, RECORDS_MANAGEMENT), viewable=False)
# client-and-mobile-device-permissions.md: "POP3 and IMAP4 settings": Organization Management, Server Management.
_POP_IMAP = Feature("POP3 and IMAP4 settings", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT))
# Get-AuthConfig's role entries are Organization Client Access (in Organization Management) and View-Only
# Configuration (in View-Only Organization Management): Get-ManagementRoleEntry "*\Get-AuthConfig", as
# Microsoft365DSC's EXOPartnerApplication lists the same two roles for the partner-application cmdlets.
_AUTH = Feature("Partner applications and the Auth certificate (AuthConfig)", (ORGANIZATION_MANAGEMENT,))
# client-and-mobile-device-permissions.md: "Outlook on the web virtual directories", "Exchange ActiveSync
# virtual directories", "Outlook Anywhere", "Autodiscover" and the other client virtual directories:
# Organization Management, Server Management; Get-ClientAccessService is the Client Access server's
# configuration ("Exchange server configuration settings", infrastructure-permissions.md).
_VDIRS = Feature("Client virtual directories, Outlook Anywhere and Autodiscover", (ORGANIZATION_MANAGEMENT, SERVER_MANAGEMENT))
# mail-flow-permissions.md: "Accepted domains": Organization Management.
_ACCEPTED = Feature("Accepted domains", (ORGANIZATION_MANAGEMENT,))
_VDIR_NOUNS = ("owavirtualdirectory", "ecpvirtualdirectory", "webservicesvirtualdirectory", "oabvirtualdirectory",
               "activesyncvirtualdirectory", "mapivirtualdirectory", "autodiscovervirtualdirectory", "outlookanywhere")

FEATURES: dict[str, Feature] = {
    "get-exchangeserver": _SERVERS,
    "get-sendconnector": _SEND, "set-sendconnector": _SEND,
    "get-receiveconnector": _RECEIVE, "set-receiveconnector": _RECEIVE,
    "get-transportservice": _TRANSPORT, "set-transportservice": _TRANSPORT,
    "get-frontendtransportservice": _FRONTEND, "set-frontendtransportservice": _FRONTEND,
    "get-transportconfig": _CONFIG, "set-transportconfig": _CONFIG,
    "get-exchangecertificate": _CERTIFICATES, "enable-exchangecertificate": _CERTIFICATES,
    "new-exchangecertificate": _CERTIFICATES, "import-exchangecertificate": _CERTIFICATES,
    "export-exchangecertificate": _CERTIFICATES, "remove-exchangecertificate": _CERTIFICATES,
    "new-edgesubscription": _EDGESYNC, "get-edgesubscription": _EDGESYNC, "remove-edgesubscription": _EDGESYNC,
    "start-edgesynchronization": _EDGESYNC, "test-edgesynchronization": _EDGESYNC,
    "search-adminauditlog": _AUDIT,
    "get-imapsettings": _POP_IMAP, "get-popsettings": _POP_IMAP,
    "get-authconfig": _AUTH, "set-authconfig": _AUTH,
    **{f"{verb}-{noun}": _VDIRS for noun in _VDIR_NOUNS for verb in ("get", "set")},
    "get-clientaccessservice": _SERVERS, "set-clientaccessservice": _SERVERS,
    "get-accepteddomain": _ACCEPTED, "new-accepteddomain": _ACCEPTED,
}


def may_run(groups: tuple[str, ...], cmdlet: str) -> bool:
    """Whether a member of these role groups finds ``cmdlet`` in its remote PowerShell session."""
    feature = FEATURES.get(cmdlet.lower())
    if feature is None:
        return False  # not an Exchange cmdlet of any role (Restart-Service …): never in the session
    if any(g in feature.groups for g in groups):
        return True
    return VIEW_ONLY in groups and feature.viewable and cmdlet.lower().startswith("get-")


def session_commands(groups: tuple[str, ...]) -> tuple[str, ...]:
    """The lab's cmdlets a session of these role groups holds (lower-case names)."""
    return tuple(name for name in FEATURES if may_run(groups, name))


def roles_for(cmdlet: str) -> tuple[str, ...]:
    """The role groups that may run a cmdlet (docs and messages)."""
    feature = FEATURES.get(cmdlet.lower())
    if feature is None:
        return ()
    extra = (VIEW_ONLY,) if feature.viewable and cmdlet.lower().startswith("get-") else ()
    return feature.groups + extra

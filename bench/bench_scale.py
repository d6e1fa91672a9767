"""Scale benchmark: exconf plan and apply against 10, 100, 200 and 1,000 lab servers (issues 11 and 20).

Two mixes:

* ``mission`` (the default): what the mission declares. Nine servers in ten are Mailbox servers, one in
  ten an Edge, spread over four AD sites; the Mailbox servers in a group per site that says its
  ``exconf_site``. Every Mailbox server imports the organisation's PFX and binds it to SMTP, and sets transport and front end transport logging and two receive connectors; every
  Edge sets its transport logging and receive connector, makes its own certificate its default SMTP
  certificate and is subscribed to its site; the organisation's transport config and send connector are
  declared too. Mailbox servers are reached over Exchange remote PowerShell, Edges over exconf's
  program (WinRM): the doors' default.
* ``logging``: issue 11's mix, every host a Mailbox server declaring transport logging only; with
  ``--door winrm`` they are reached with exconf's program over WinRM instead.

Remote PowerShell logs on with NTLM: the lab's Mailbox servers allow Windows authentication on
/PowerShell (Set-PowerShellVirtualDirectory -WindowsAuthentication $true, the documented non-default
setting; Exchange's default is Kerberos only), as the shipped lab's do. The program's door to a Mailbox
server needs a delegated Kerberos ticket (the double hop, docs/kerberos.md), so ``--door winrm`` runs
with an MIT KDC of its own (exconf.lab.kdc, a principal per server), and is left out, saying why, where
the KDC tools or gssapi are missing. Edges, outside the domain, take NTLM.

For each size it runs, against a fresh lab: ``plan`` (the first one, certificate stores made on first
read), ``apply``, and ``plan`` again (which must find nothing to do). For each command and door it
prints WS-Management requests per host as min/median/max over **all** hosts of that door (the lab's
own counters), beside the door's budget (plan 8, apply 12), the controller's and the lab's CPU per
host, and the machine's load average while it ran. After apply, every server's end state is checked
through the lab's console (``exconf lab exec``'s control socket: the lab's own objects, never
exconf's read) and the number of servers found as declared is printed. Last, how the lab's CPU per host
grew from 100 servers to the largest size, per command (issue 20: flat within 20 %).

    .venv/bin/python bench/bench_scale.py                  # mission mix: 10, 100, 200, 1000 servers
    .venv/bin/python bench/bench_scale.py 10 200           # chosen sizes
    .venv/bin/python bench/bench_scale.py --mix logging 10 # issue 11's mix
    .venv/bin/python bench/bench_scale.py --mix logging --door winrm 10  # issue 11's mix, the program

The lab runs in its own process on 127.<EXCONF_TEST_NET or 63>.200.0/22. Nothing here asserts on time:
it measures.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import benchargs

from exconf.lab import kdc as labkdc
from exconf.lab import runtime

PASSWORD = "Bench-Passw0rd"
EDGE_PASSWORD = "Bench-Edge-Passw0rd"
SIZES = (10, 100, 200, 1000)
FLAT_FROM = 100  # issue 20: the lab's CPU per host within FLAT_WITHIN from this size to the largest
FLAT_WITHIN = 0.20
FORKS = 50
SITES = ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven")
IIS_PORT = 8080  # the lab's IIS (Exchange: 80), so the bench needs no root
BUDGET = {"plan": 8, "apply": 12}  # WS-Man requests per host, both doors (docs/remote-powershell.md#requests)
DOORS = ("psrp", "winrm")  # how the logging mix reaches its Mailbox servers (the mission mix: the doors' default)
PFX = "mail.contoso.lab.pfx"
PFX_PASSWORD = "Bench-Pfx-1"
NET = int(os.environ.get("EXCONF_TEST_NET", "63"))


def address(i: int) -> str:
    return f"127.{NET}.{200 + i // 250}.{i % 250 + 1}"  # 127.NET.200-203: clear of the tests' addresses


KDC_ADDRESS = f"127.{NET}.204.1"


@dataclass(frozen=True)
class Server:
    name: str  # EX001 / EDGE001
    host: str  # inventory name
    role: str
    site: str
    address: str


def servers_of(n: int, mix: str) -> list[Server]:
    """n servers: one in ten an Edge (at least one) in the mission mix, spread over the sites in turn."""
    edges = max(1, n // 10) if mix == "mission" else 0
    out = []
    for i in range(n - edges):
        out.append(Server(f"EX{i:03d}", f"ex{i:03d}.contoso.lab", "Mailbox", SITES[i % len(SITES)] if mix == "mission" else SITES[0], address(i)))
    for j in range(edges):
        out.append(Server(f"EDGE{j:03d}", f"edge{j:03d}.dmz.contoso.lab", "Edge", SITES[j % len(SITES)], address(n - edges + j)))
    return out


def bench_pfx() -> bytes:
    """The organisation's SMTP certificate: CN=mail.contoso.lab for *.contoso.lab, issued by a "Contoso Lab
    Public" CA (the match the shipped inventory uses), in a PFX with its key."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Contoso Lab Public CA")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.contoso.lab"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Contoso")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("mail.contoso.lab"), x509.DNSName("*.contoso.lab")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return pkcs12.serialize_key_and_certificates(b"mail", key, cert, None, serialization.BestAvailableEncryption(PFX_PASSWORD.encode()))


def start_kdc(folder: Path, servers: list[Server]) -> labkdc.LabKDC:
    """The bench domain's KDC, for the program's door to Mailbox servers: exadmin, and HTTP/<fqdn> with a
    keytab per Mailbox server."""
    kdc = labkdc.LabKDC(folder / "kdc", "CONTOSO.LAB", KDC_ADDRESS).create()
    kdc.add_user("exadmin", PASSWORD)
    kdc.add_services([(s.host, (s.name.lower(),)) for s in servers if s.role == "Mailbox"])
    return kdc.start()


def write_lab(folder: Path, servers: list[Server], mix: str, door: str = "psrp",
              kdc: labkdc.LabKDC | None = None) -> tuple[Path, Path]:
    org_servers: list[dict[str, Any]] = []
    for s in servers:
        entry: dict[str, Any] = {"name": s.name, "role": s.role, "site": s.site, "address": s.address}
        if s.role == "Mailbox":
            entry["iis"] = {"http_port": IIS_PORT, "https_port": IIS_PORT + 363}
            entry["powershell_virtual_directory"] = {"windows_authentication": True}  # NTLM too (see the docstring)
        else:
            entry["fqdn"] = s.host
            entry["local_accounts"] = [{"user": "Administrator", "password": EDGE_PASSWORD}]
            entry["certificates"] = [{"subject": "CN=smtp.contoso.lab, O=Contoso", "domains": ["smtp.contoso.lab", s.host]}]
        org_servers.append(entry)
    org: dict[str, Any] = {"organization": {"name": "Contoso", "domain": "contoso.lab", "netbios": "CONTOSO"},
                           "accounts": [{"user": "exadmin", "password": PASSWORD}], "servers": org_servers}
    if kdc is not None:
        org["kerberos"] = {"keytabs": str(kdc.keytab_dir)}
    if mix == "mission":
        org["send_connectors"] = [{"name": "Internet", "address_spaces": ["SMTP:*;1"],
                                   "source_transport_servers": [servers[0].name]}]
    org_file = folder / "bench-org.yaml"
    org_file.write_text(yaml.safe_dump(org, sort_keys=False))
    inv_file = folder / "bench.yaml"
    inv_file.write_text(yaml.safe_dump(inventory(folder, servers, mix, door), sort_keys=False))
    return org_file, inv_file


MAILBOX = {
    "transport_service": {"intra_org_connector_protocol_logging_level": "Verbose", "send_protocol_log_max_age": "14.00:00:00"},
    "frontend_transport_service": {"intra_org_connector_protocol_logging_level": "Verbose"},
    "receive_connectors": {"Default {server}": {"protocol_logging_level": "Verbose"},
                           "Default Frontend {server}": {"protocol_logging_level": "Verbose"}},
}


def inventory(folder: Path, servers: list[Server], mix: str, door: str = "psrp") -> dict[str, Any]:
    mailboxes = {s.host: {"ansible_host": s.address} for s in servers if s.role == "Mailbox"}
    if mix == "logging":
        # the program logs on to a Mailbox server with a delegated Kerberos ticket, as the double hop needs
        door_vars = ({"ansible_user": "CONTOSO\\exadmin", "ansible_psrp_port": IIS_PORT} if door == "psrp" else
                     {"ansible_user": "exadmin@contoso.lab", "ansible_connection": "winrm", "ansible_winrm_transport": "kerberos",
                      "ansible_winrm_kerberos_delegation": True})
        return {"all": {"vars": {**door_vars, "ansible_password": PASSWORD,
                                 "exchange_organization": {"transport_config": {"tls_send_domain_secure_list": ["fabrikam.com"]}},
                                 "exchange": MAILBOX},
                        "hosts": mailboxes}}
    (folder / PFX).write_bytes(bench_pfx())
    (folder / (PFX + ".password")).write_text(PFX_PASSWORD)
    edges = {s.host: {"ansible_host": s.address, "ansible_user": f"{s.name}\\Administrator", "exchange": {"edge_subscription": {"site": s.site}}}
             for s in servers if s.role == "Edge"}
    return {"all": {
        "vars": {"ansible_user": "CONTOSO\\exadmin", "ansible_password": PASSWORD,
                 "exchange_organization": {
                     "transport_config": {"tls_send_domain_secure_list": ["fabrikam.com"], "tls_receive_domain_secure_list": ["fabrikam.com"]},
                     "send_connectors": {"Internet": {"protocol_logging_level": "Verbose"}}}},
        "children": {
            "mailbox": {"vars": {"ansible_psrp_port": IIS_PORT, "exchange": {
                **MAILBOX,
                "certificates": [{"match": {"subject": "CN=mail.contoso.lab", "issuer": "*Contoso Lab Public*"}, "services": ["SMTP"],
                                  "import": {"pfx": PFX, "password_file": PFX + ".password"}}]}},
                        # a group per AD site saying its site (exconf_site): each site's EdgeSync state is read in the
                        # first Mailbox server's one read (docs/edgesync.md)
                        "children": {f"site_{site.lower()}": {"vars": {"exconf_site": site},
                                                              "hosts": {s.host: mailboxes[s.host] for s in servers if s.role == "Mailbox" and s.site == site}}
                                     for site in SITES if any(s.site == site and s.role == "Mailbox" for s in servers)}},
            "edge": {"vars": {"exconf_role": "Edge", "ansible_port": 5985, "ansible_winrm_transport": "ntlm",
                              "ansible_password": EDGE_PASSWORD,
                              "exchange": {
                                  "transport_service": {"send_protocol_log_max_age": "14.00:00:00"},
                                  "receive_connectors": {"Default internal receive connector {server}": {"protocol_logging_level": "Verbose"}},
                                  "certificates": [{"match": {"subject": "CN=smtp.contoso.lab"}, "services": ["SMTP"], "default_smtp": True}]}},
                     "hosts": edges},
        }}}


# --- what the lab says (its console), never exconf's read ------------------------------------------


def console(lab: runtime.RunningLab, server: str, cmdlet: str, **params: Any) -> list[dict[str, Any]]:
    answer = lab.request("exec", timeout=120.0, server=server, cmdlet=cmdlet, params=params)
    if not answer.get("ok"):
        raise RuntimeError(f"{server}: {cmdlet}: {answer.get('error')}")
    return list(answer.get("objects") or [])


def _is(value: Any, want: str) -> bool:
    return str(value).lower() == want.lower()


def check_server(lab: runtime.RunningLab, s: Server, mix: str, edge_records: dict[str, str]) -> list[str]:
    """What is not as declared on this server, by the lab's console ([] when everything is)."""
    wrong = []
    ts = console(lab, s.name, "Get-TransportService", Identity=s.name)[0]
    if s.role == "Mailbox" and not _is(ts.get("IntraOrgConnectorProtocolLoggingLevel"), "Verbose"):
        wrong.append("transport service intra-org logging")
    if not _is(ts.get("SendProtocolLogMaxAge"), "14.00:00:00"):
        wrong.append(f"SendProtocolLogMaxAge {ts.get('SendProtocolLogMaxAge')}")
    if s.role == "Mailbox":
        fe = console(lab, s.name, "Get-FrontendTransportService", Identity=s.name)[0]
        if not _is(fe.get("IntraOrgConnectorProtocolLoggingLevel"), "Verbose"):
            wrong.append("front end transport intra-org logging")
        names = (f"Default {s.name}", f"Default Frontend {s.name}")
    else:
        names = (f"Default internal receive connector {s.name}",)
    for name in names:
        rc = console(lab, s.name, "Get-ReceiveConnector", Identity=f"{s.name}\\{name}")[0]
        if not _is(rc.get("ProtocolLoggingLevel"), "Verbose"):
            wrong.append(f"{name} logging")
    if mix == "logging":
        return wrong
    certs = console(lab, s.name, "Get-ExchangeCertificate", Server=s.name)
    subject = "CN=mail.contoso.lab" if s.role == "Mailbox" else "CN=smtp.contoso.lab"
    smtp = [c for c in certs if subject in str(c.get("Subject", "")) and "SMTP" in str(c.get("Services", ""))]
    if not smtp:
        wrong.append(f"{subject} not bound to SMTP")
    if s.role == "Edge":
        if not console(lab, s.name, "Get-EdgeSubscription"):
            wrong.append("no subscription on the Edge")
        if edge_records.get(s.name.lower(), "").lower() != s.site.lower():
            wrong.append(f"the organisation's subscription record: site {edge_records.get(s.name.lower())!r}")
    return wrong


def check_all(lab: runtime.RunningLab, servers: list[Server], mix: str) -> tuple[int, list[str]]:
    """(servers as declared, what was not), the organisation's objects counted with the first server."""
    first = next(s for s in servers if s.role == "Mailbox")
    problems: list[str] = []
    edge_records: dict[str, str] = {}
    if mix == "mission":
        for sub in console(lab, first.name, "Get-EdgeSubscription"):
            edge_records[str(sub.get("Name", "")).lower()] = str(sub.get("Site", "")).rsplit("/", 1)[-1]
        tc = console(lab, first.name, "Get-TransportConfig")[0]
        if "fabrikam.com" not in str(tc.get("TLSSendDomainSecureList", "")):
            problems.append("organisation: TLSSendDomainSecureList")
        sc = console(lab, first.name, "Get-SendConnector", Identity="Internet")[0]
        if not _is(sc.get("ProtocolLoggingLevel"), "Verbose"):
            problems.append("organisation: send connector Internet logging")
    good = 0
    for s in servers:
        wrong = check_server(lab, s, mix, edge_records)
        if wrong:
            problems.append(f"{s.name}: " + ", ".join(wrong))
        else:
            good += 1
    return good, problems


# --- measuring ---------------------------------------------------------------------------------------


@dataclass
class Run:
    code: int
    wall: float
    cpu: float  # seconds of the exconf process
    peak_fds: int  # open descriptors of the exconf process at peak (sockets, mostly)
    stderr: str


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (/proc/<pid>/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run exconf as a child, sampling its open descriptors until it exits."""
    start = time.perf_counter()
    before = _children_cpu()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], len(os.listdir(f"/proc/{proc.pid}/fd")))
            except OSError:
                pass
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = proc.communicate()
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    return Run(proc.returncode, wall, _children_cpu() - before, peak[0], stderr)


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def spread(values: list[int]) -> str:
    return f"{min(values)}/{statistics.median(values):g}/{max(values)}" if values else "-"


def measure(lab: runtime.RunningLab, argv: list[str], servers: list[Server], door: str = "psrp",
            env: dict[str, str] | None = None) -> tuple[Run, dict[str, list[int]], float, float]:
    """(the run, requests per host by door, lab CPU seconds, load average over the run)."""
    before, lab_before = runtime.stats(lab)["servers"], process_cpu(lab.pid)
    load_before = os.getloadavg()[0]
    run = timed(argv, env)
    load = (load_before + os.getloadavg()[0]) / 2
    lab_cpu = process_cpu(lab.pid) - lab_before
    after = runtime.stats(lab)["servers"]
    by_door: dict[str, list[int]] = {"psrp": [], "winrm": []}
    over: dict[str, int] = {}
    budget = BUDGET["plan" if "plan" in argv else "apply"]
    for s in servers:
        got = after.get(s.name, {}).get("requests", 0) - before.get(s.name, {}).get("requests", 0)
        by_door[door if s.role == "Mailbox" else "winrm"].append(got)
        if got > budget:
            over[s.name] = got
    if over:  # which hosts, so that a figure over the budget can be explained
        shown = ", ".join(f"{name} {count}" for name, count in sorted(over.items(), key=lambda kv: -kv[1])[:12])
        print(f"    over the budget of {budget}: {len(over)} hosts: {shown}", flush=True)
    return run, by_door, lab_cpu, load


MARKDOWN_HEADER = ("| servers | command | exit | wall s | load | remote PowerShell req/host (min/median/max) | program req/host "
                   "(min/median/max) | budget | controller CPU ms/host | lab CPU ms/host | state (lab console) |")


def markdown_row(n: int, label: str, code: int, wall: float, load: float, by_door: dict[str, list[int]], budget: int,
                 ctl: float, lab: float, state: str) -> str:
    """One row of docs/architecture.md's scale table, as this bench measured it."""
    return (f"| {n:,} | {label} | {code} | {wall:.1f} | {load:.1f} | {spread(by_door['psrp'])} | {spread(by_door['winrm'])} | "
            f"{budget} | {ctl:.1f} | {lab:.1f} | {state} |")


def flatness(lab_cpu: dict[tuple[int, str], float]) -> str | None:
    """How the lab's CPU per host grew from the smallest size of at least FLAT_FROM servers to the largest, per
    command (``lab_cpu``: (servers, command) -> ms per host); None with fewer than two such sizes."""
    sizes = sorted({n for n, _ in lab_cpu if n >= FLAT_FROM})
    if len(sizes) < 2:
        return None
    low, high = sizes[0], sizes[-1]
    parts = []
    for label in dict.fromkeys(command for _, command in lab_cpu):
        if (low, label) in lab_cpu and (high, label) in lab_cpu:
            change = lab_cpu[high, label] / lab_cpu[low, label] - 1
            verdict = "flat" if abs(change) <= FLAT_WITHIN else "NOT flat"
            parts.append(f"{label} {lab_cpu[low, label]:.1f} -> {lab_cpu[high, label]:.1f} ms ({change:+.1%}, {verdict})")
    return f"lab CPU per host from {low:,} to {high:,} servers (within {FLAT_WITHIN:.0%}): " + "; ".join(parts)


def main(sizes: tuple[int, ...], mix: str, door: str = "psrp") -> None:
    exconf = [sys.executable, "-m", "exconf"]
    if door == "winrm" and labkdc.missing():
        print(f"--door winrm left out: {labkdc.missing()}", flush=True)
        return
    print(f"mix {mix}, Mailbox servers over {door}, --forks {FORKS}, {os.cpu_count()} cores; requests per host min/median/max over all hosts of a door", flush=True)
    print(f"{'servers':>7} {'command':>7} {'exit':>4} {'wall s':>7} {'load':>5} {'psrp req/host':>13} {'winrm req/host':>14} {'budget':>6} "
          f"{'ctl CPU ms/host':>15} {'lab CPU ms/host':>15} {'peak fds':>8}", flush=True)
    table: list[str] = []
    lab_cpus: dict[tuple[int, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="exconf-bench-") as tmp:
        os.environ["EXCONF_RUNTIME_DIR"] = str(Path(tmp) / "run")
        for n in sizes:
            folder = Path(tmp) / f"n{n}"
            folder.mkdir()
            servers = servers_of(n, mix)
            kdc = start_kdc(folder, servers) if door == "winrm" else None
            org, inv = write_lab(folder, servers, mix, door, kdc)
            lab = runtime.ensure_running(org, folder / ".lab" / "state.json", timeout=600)
            try:
                rows = []
                for label, command, extra in (("plan", "plan", []), ("apply", "apply", ["--auto-approve"]), ("replan", "plan", ["--detailed-exitcode"])):
                    run, by_door, lab_cpu, load = measure(lab, [*exconf, command, str(inv), "--forks", str(FORKS), *extra], servers,
                                                          door, kdc.env() if kdc else None)
                    print(f"{n:>7} {label:>7} {run.code:>4} {run.wall:>7.1f} {load:>5.1f} {spread(by_door['psrp']):>13} {spread(by_door['winrm']):>14} "
                          f"{BUDGET[command]:>6} {1000 * run.cpu / n:>15.1f} {1000 * lab_cpu / n:>15.1f} {run.peak_fds:>8}", flush=True)
                    if run.code not in (0, 2) or (label == "replan" and run.code != 0):
                        print("    " + run.stderr[-1500:].replace("\n", "\n    "), flush=True)
                    rows.append((n, label, run.code, run.wall, load, by_door, BUDGET[command], 1000 * run.cpu / n, 1000 * lab_cpu / n))
                    lab_cpus[n, label] = 1000 * lab_cpu / n
                good, problems = check_all(lab, servers, mix)
                print(f"{n:>7}   state {good}/{n} servers as declared (lab console)", flush=True)
                for p in problems[:10]:
                    print(f"    {p}", flush=True)
                table += [markdown_row(*row, f"{good:,}/{n:,}" if row[1] == "apply" else "") for row in rows]
            finally:
                runtime.stop(lab, timeout=300)
                if kdc is not None:
                    kdc.stop()
    flat = flatness(lab_cpus)
    if flat:
        print(flat, flush=True)
    print("\n" + MARKDOWN_HEADER + "\n" + "|---" * MARKDOWN_HEADER.count(" | ") + "|---|\n" + "\n".join(table), flush=True)


if __name__ == "__main__":
    command_line = benchargs.parser(__doc__, SIZES)
    command_line.add_argument("--mix", choices=("mission", "logging"), default="mission")
    command_line.add_argument("--door", choices=DOORS, default="psrp", help="how the logging mix reaches its Mailbox servers")
    options = command_line.parse_args()
    if options.door == "winrm" and options.mix != "logging":
        command_line.error("--door winrm goes with --mix logging (the mission mix reaches each server by its default door)")
    with benchargs.lab_errors():
        main(benchargs.checked(command_line, options.sizes, SIZES), options.mix, options.door)

"""A real MIT Kerberos KDC for a lab organisation, on a loopback address, in a folder of its own.

Windows servers of a domain authenticate callers with Kerberos tickets their domain
controller issues; the lab needs the same to be honest about it. This module builds a realm
with Debian's MIT Kerberos tools (``kdb5_util``, ``kadmin.local``, ``krb5kdc`` from the
``krb5-kdc`` and ``krb5-admin-server`` packages): its own ``krb5.conf`` and ``kdc.conf``, its
database, a principal per domain account and an ``HTTP/<fqdn>`` service principal with a keytab
per domain-joined server (``<fqdn>.keytab`` in ``keytabs/``, the folder the organisation file's
``kerberos: {keytabs: …}`` names). Nothing is written outside the folder and no process-wide
setting is changed: a client uses the realm by pointing ``KRB5_CONFIG`` at :attr:`LabKDC.krb5_conf`.

The realm follows Active Directory's defaults where MIT's differ: pre-authentication is required
(AD's default; a wrong password is then the KDC's "Preauthentication failed"), tickets are
forwardable (so a client may delegate, as a Windows client may), AES only, and the allowed
clock skew is five minutes (``clockskew``; Kerberos Policy "Maximum tolerance for computer clock
synchronization", 5 minutes by default: learn.microsoft.com/windows/security/threat-protection/
security-policy-settings/maximum-tolerance-for-computer-clock-synchronization).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

TOOLS = ("krb5kdc", "kdb5_util", "kadmin.local")
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")
START_TIMEOUT = 10.0


class KDCError(Exception):
    """The KDC could not be set up or started; str() says what and where."""


def find_tool(name: str) -> str | None:
    """A KDC tool on PATH or in the sbin folders (Debian installs them in /usr/sbin)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in SBIN:
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def missing() -> str | None:
    """Why a KDC cannot be run here, or None: what a test prints when it skips."""
    absent = [t for t in TOOLS if find_tool(t) is None]
    if absent:
        return (f"MIT Kerberos KDC tools not installed ({', '.join(absent)}); "
                "on Debian: apt-get install krb5-kdc krb5-admin-server krb5-user (.ci/run does)")
    try:
        import gssapi  # noqa: F401
        import krb5  # noqa: F401  (pyspnego's Kerberos needs both)
    except ImportError as exc:
        return f"python-gssapi/krb5 not installed ({exc.name}): pip install 'exconf[kerberos]' (needs libkrb5-dev)"
    return None


def free_port(address: str) -> int:
    """A TCP port free on ``address`` now (the KDC serves TCP; clients are told to use TCP only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@dataclass
class LabKDC:
    """One realm's KDC. ``create()`` builds it, ``start()`` serves it, ``stop()`` ends it."""

    folder: Path
    realm: str  # CONTOSO.LAB: the upper-case DNS name of the domain, as Active Directory names its realm
    address: str  # a loopback address
    port: int = 0
    clock_offset: str = ""  # e.g. "+10m": run the KDC with its clock moved (libfaketime), to rehearse skew
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def krb5_conf(self) -> Path:
        return self.folder / "krb5.conf"

    @property
    def kdc_conf(self) -> Path:
        return self.folder / "kdc.conf"

    @property
    def keytab_dir(self) -> Path:
        return self.folder / "keytabs"

    def keytab(self, fqdn: str) -> Path:
        return self.keytab_dir / f"{fqdn.lower()}.keytab"

    def env(self) -> dict[str, str]:
        """What a process needs to use this realm (and nothing else): its client configuration."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_conf)}

    # -- building the realm ---------------------------------------------------------------

    def create(self) -> "LabKDC":
        reason = missing()
        if reason:
            raise KDCError(reason)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keytab_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.port:
            self.port = free_port(self.address)
        self._write_config()
        # A random master key: the stash lets krb5kdc start without asking for it.
        master = os.urandom(24).hex()
        self._run("kdb5_util", "create", "-s", "-r", self.realm, "-P", master)
        return self

    def _write_config(self) -> None:
        kdc = self.folder
        self.kdc_conf.write_text(
            "[kdcdefaults]\n"
            f" kdc_listen = {self.address}:{self.port}\n"
            f" kdc_tcp_listen = {self.address}:{self.port}\n"
            "[realms]\n"
            f" {self.realm} = {{\n"
            f"  database_name = {kdc}/principal\n"
            f"  key_stash_file = {kdc}/stash\n"
            f"  acl_file = {kdc}/kadm5.acl\n"
            f"  dict_file = {kdc}/dict\n"
            "  max_life = 10h\n"
            "  max_renewable_life = 7d\n"
            "  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal\n"
            "  default_principal_flags = +preauth +forwardable\n"
            "  kdc_clockskew = 300\n"
            "  }\n"
            "[logging]\n"
            f" kdc = FILE:{kdc}/kdc.log\n",
            encoding="ascii",
        )
        (kdc / "kadm5.acl").write_text("", encoding="ascii")
        (kdc / "dict").write_text("", encoding="ascii")
        domain = self.realm.lower()
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f" default_realm = {self.realm}\n"
            " dns_lookup_kdc = false\n"
            " dns_lookup_realm = false\n"
            # The SPN is built from the name the client is given, never from reverse DNS of an address.
            " rdns = false\n"
            " dns_canonicalize_hostname = false\n"
            " forwardable = true\n"
            " udp_preference_limit = 1\n"
            " clockskew = 300\n"
            "[realms]\n"
            f" {self.realm} = {{\n"
            f"  kdc = {self.address}:{self.port}\n"
            "  }\n"
            "[domain_realm]\n"
            f" .{domain} = {self.realm}\n"
            f" {domain} = {self.realm}\n",
            encoding="ascii",
        )

    def add_user(self, user: str, password: str) -> str:
        """A domain account's principal (``user@REALM``), with its password."""
        principal = f"{user}@{self.realm}"
        self._kadmin(f"addprinc -pw {_quote(password)} {principal}")
        return principal

    def set_password(self, user: str, password: str) -> None:
        """A new password for a domain account (kadmin's cpw)."""
        self._kadmin(f"cpw -pw {_quote(password)} {user}@{self.realm}")

    def add_service(self, fqdn: str, service: str = "HTTP", aliases: tuple[str, ...] = ()) -> Path:
        """``HTTP/<fqdn>`` (a domain-joined server's web SPN) with a random key, exported to its keytab,
        with ``HTTP/<alias>`` for each alias in the same keytab. A computer account answers for
        ``HTTP/`` through its ``HOST/`` SPNs, which name both its FQDN and its NetBIOS name (setspn -L);
        MIT has no such mapping and compares case, so each name a client may use is a principal."""
        return self.add_services([(fqdn, aliases)], service)[0]

    def add_services(self, servers: list[tuple[str, tuple[str, ...]]], service: str = "HTTP") -> list[Path]:
        """:meth:`add_service` for many servers (fqdn, aliases) in one ``kadmin.local`` (a bench's thousand)."""
        queries, keytabs = [], []
        for fqdn, aliases in servers:
            keytab = self.keytab(fqdn)
            keytabs.append(keytab)
            for name in dict.fromkeys([fqdn.lower(), *(a.lower() for a in aliases)]):
                principal = f"{service}/{name}@{self.realm}"
                queries += [f"addprinc -randkey {principal}", f"ktadd -k {keytab} {principal}"]
        self._kadmin_all(queries)
        for keytab in keytabs:
            keytab.chmod(0o600)
        return keytabs

    def remove_service(self, fqdn: str, service: str = "HTTP") -> None:
        """Delete a service principal (the SPN that ``setspn -D`` would remove), keeping its keytab."""
        self._kadmin(f"delprinc -force {service}/{fqdn.lower()}@{self.realm}")

    def expire_password(self, user: str) -> None:
        self._kadmin(f"modprinc -pwexpire now {user}@{self.realm}")

    def _kadmin(self, query: str) -> None:
        self._run("kadmin.local", "-r", self.realm, "-q", query)

    def _kadmin_all(self, queries: list[str]) -> None:
        """Queries on kadmin.local's standard input, one a line: one process for all of them."""
        self._run("kadmin.local", "-r", self.realm, stdin="".join(f"{q}\n" for q in queries).encode("ascii"))

    def _run(self, tool: str, *args: str, stdin: bytes | None = None) -> None:
        exe = find_tool(tool)
        if exe is None:
            raise KDCError(f"{tool} is not installed")
        env = {**_base_env(), **self.env()}
        done = subprocess.run([exe, *args], env=env, input=stdin, capture_output=True, timeout=600, check=False)
        out = (done.stdout + done.stderr).decode("utf-8", "replace")
        if done.returncode != 0 or _failure(out):
            raise KDCError(f"{tool} {args[0] if args else ''} failed in {self.folder}: {out.strip()[-500:]}")

    # -- serving ---------------------------------------------------------------------------

    def start(self) -> "LabKDC":
        exe = find_tool("krb5kdc")
        if exe is None:
            raise KDCError("krb5kdc is not installed")
        env = {**_base_env(), **self.env()}
        if self.clock_offset:
            lib = faketime_library()
            if lib is None:
                raise KDCError("libfaketime is not installed (Debian: apt-get install faketime)")
            env.update(LD_PRELOAD=lib, FAKETIME=self.clock_offset, FAKETIME_DONT_RESET="1")
        pid_file = self.folder / "krb5kdc.pid"
        # -n: stay in the foreground, so the process is ours to stop; -P: where it notes its pid.
        self._process = subprocess.Popen(
            [exe, "-n", "-r", self.realm, "-P", str(pid_file)], env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode("utf-8", "replace") if self._process.stderr else ""
                raise KDCError(f"krb5kdc exited at start ({self._process.returncode}): {err.strip()[-500:]}")
            if _listening(self.address, self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise KDCError(f"krb5kdc did not listen on {self.address}:{self.port} within {START_TIMEOUT:g} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> "LabKDC":
        return self.create().start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def faketime_library() -> str | None:
    """libfaketime's preload library (Debian's ``faketime`` package), or None."""
    for folder in ("/usr/lib/x86_64-linux-gnu/faketime", "/usr/lib/aarch64-linux-gnu/faketime", "/usr/lib/faketime",
                   "/usr/local/lib/faketime"):
        lib = Path(folder) / "libfaketime.so.1"
        if lib.is_file():
            return str(lib)
    return None


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _listening(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=0.2):
            return True
    except OSError:
        return False


def _failure(out: str) -> bool:
    """Whether a tool's output reports a failure: kadmin.local exits 0 after a failed query and says it
    in com_err's form ("add_principal: Principal or policy already exists while creating …",
    "kadmin.local: Principal … does not exist.")."""
    text = out.lower()
    return " while " in text or "does not exist" in text or "error" in text.replace("errors: 0", "")


def _quote(text: str) -> str:
    """kadmin's query parser splits on blanks and reads double quotes."""
    if any(c in text for c in '"\\\r\n'):
        raise KDCError("a password with a double quote, backslash or line break cannot be given to kadmin.local -q")
    return f'"{text}"'

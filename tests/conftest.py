"""Settings every test shares: a plan key of the test session's own, never the user's; and a real
MIT KDC for the tests that need Kerberos, one per test process, on a loopback address.

``kdc`` starts it once per session (per xdist worker) with the realm CONTOSO.LAB of the lab
organisations the tests build; tests provision the accounts and the ``HTTP/<fqdn>`` principals of
the servers they use (``kdc_provision``). ``krb5_env`` points this process's Kerberos clients at
it (``KRB5_CONFIG``) and gives the test a credential cache of its own (``KRB5CCNAME``), so no test
reads or writes the user's. Tests that need the KDC skip with the reason when the MIT tools or
python-gssapi are missing, as the browser tests do without chromium.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from exconf.lab.kdc import LabKDC, find_tool, missing

REALM = "CONTOSO.LAB"


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(name[2:]) if name[2:].isdigit() else 0


def kdc_address(offset: int = 1) -> str:
    """127.<net+worker>.254.<offset>: a /24 the labs' 127.<net+worker>.<1..250> never use."""
    base = int(os.environ.get("EXCONF_TEST_NET", "150"))
    return f"127.{base + _worker()}.254.{offset}"


class Realm:
    """The session's KDC and what has been provisioned in it (idempotent)."""

    def __init__(self, kdc: LabKDC):
        self.kdc = kdc
        self._users: dict[str, str] = {}
        self._services: set[str] = set()

    def user(self, name: str, password: str) -> str:
        if self._users.get(name) != password:
            if name in self._users:
                self.kdc.set_password(name, password)
            else:
                self.kdc.add_user(name, password)
            self._users[name] = password
        return f"{name}@{self.kdc.realm}"

    def service(self, fqdn: str) -> Path:
        """HTTP/<fqdn>, and HTTP/<short name> as a computer account's HOST/<NETBIOS> SPN gives it, unless
        another server of the session (ex01.contoso.com beside ex01.contoso.lab) holds that short name
        already: one SPN names one account, as in Active Directory."""
        if fqdn.lower() not in self._services:
            short = fqdn.split(".", 1)[0].lower()
            self.kdc.add_service(fqdn, aliases=() if short in self._services else (short,))
            self._services.update({fqdn.lower(), short})
        return self.kdc.keytab(fqdn)

    def provision(self, org: dict[str, Any]) -> None:
        """Principals for an organisation document: its domain accounts, and HTTP/<fqdn> for every
        domain-joined server (Mailbox servers, and Edges marked domain_joined)."""
        domain = org.get("organization", {}).get("domain", "contoso.lab")
        for account in org.get("accounts", []):
            self.user(account["user"], account["password"])
        for server in org["servers"]:
            if server.get("role") == "Mailbox" or server.get("domain_joined"):
                self.service(server.get("fqdn", f"{server['name'].lower()}.{domain}"))

    @property
    def env(self) -> dict[str, str]:
        return {"KRB5_CONFIG": str(self.kdc.krb5_conf)}

    def kinit(self, principal: str, password: str, ccache: Path, lifetime: str = "10h") -> None:
        """A ticket in a FILE credential cache, as a user's ``kinit`` puts it there."""
        exe = find_tool("kinit")
        if exe is None:
            pytest.skip("kinit is not installed (Debian: apt-get install krb5-user)")
        env = {"PATH": os.environ.get("PATH", ""), **self.env, "KRB5CCNAME": f"FILE:{ccache}"}
        done = subprocess.run([exe, "-l", lifetime, principal], input=password.encode() + b"\n", env=env,
                              capture_output=True, timeout=30, check=False)
        assert done.returncode == 0, done.stderr.decode()


@pytest.fixture(autouse=True, scope="session")
def _plan_key(tmp_path_factory: pytest.TempPathFactory):
    """exconf signs saved plans with the user's plan key (engine/plankey.py); tests use a key of their own."""
    folder = tmp_path_factory.mktemp("plan-key")
    folder.chmod(0o700)
    previous = os.environ.get("EXCONF_PLAN_KEY")
    os.environ["EXCONF_PLAN_KEY"] = str(folder / "plan.key")
    yield folder / "plan.key"
    if previous is None:
        os.environ.pop("EXCONF_PLAN_KEY", None)
    else:
        os.environ["EXCONF_PLAN_KEY"] = previous


@pytest.fixture(scope="session")
def kdc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Realm]:
    reason = missing()
    if reason:
        pytest.skip(reason)
    lab_kdc = LabKDC(tmp_path_factory.mktemp("kdc"), REALM, kdc_address()).create().start()
    try:
        yield Realm(lab_kdc)
    finally:
        lab_kdc.stop()


@pytest.fixture
def krb5_env(kdc: Realm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Realm:
    """This process's Kerberos clients use the session's KDC, with a credential cache of the test's own."""
    monkeypatch.setenv("KRB5_CONFIG", str(kdc.kdc.krb5_conf))
    monkeypatch.setenv("KRB5CCNAME", f"FILE:{tmp_path / 'krb5cc'}")
    return kdc

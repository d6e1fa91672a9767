"""An ACME CA and a DNS server on loopback, for tests of requested certificates: Let's Encrypt's test server
Pebble (Debian package ``pebble``, started here with a config of its own) and a small authoritative DNS server
(dnspython) that answers the lab's names and takes RFC 2136 dynamic updates signed with a TSIG key.

Pebble resolves every name through that DNS server (``-dnsserver``), so it validates for real: an HTTP-01
challenge by fetching ``http://<name>:<httpPort>/.well-known/acme-challenge/<token>`` from the address the
name has (a lab Mailbox server's IIS), a DNS-01 one by reading ``_acme-challenge.<name>`` TXT. Its environment
makes it quick and deterministic: no sleep before validation (PEBBLE_VA_NOSLEEP), no nonce rejected on purpose
(PEBBLE_WFE_NONCEREJECT=0), no authorization reused (PEBBLE_AUTHZREUSE=0) [Pebble's README].
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

TSIG_NAME = "exconf-acme."
TSIG_SECRET = base64.b64encode(b"a test tsig key of 32 bytes len!").decode("ascii")


def pebble_available() -> bool:
    return shutil.which("pebble") is not None


@dataclass
class DnsServer:
    """An authoritative server for one zone: A records of the lab's names, TXT records RFC 2136 updates add."""

    address: str
    port: int
    zone: str
    a: dict[str, str]
    keyring: dict = field(default_factory=lambda: dns.tsigkeyring.from_text({TSIG_NAME: TSIG_SECRET}))
    txt: dict[str, list[str]] = field(default_factory=dict)
    updates: list[str] = field(default_factory=list)  # "add NAME VALUE" / "delete NAME VALUE", for assertions
    signed: list[tuple[str, int]] = field(default_factory=list)  # (TSIG algorithm, TTL) of each record an update added

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((self.address, self.port))
        self._udp.settimeout(0.2)
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((self.address, self.port))
        self._tcp.listen(16)
        self._tcp.settimeout(0.2)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True), threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2)
        self._udp.close()
        self._tcp.close()

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                wire, peer = self._udp.recvfrom(65535)
            except OSError:
                continue
            answer = self._answer(wire)
            if answer:
                self._udp.sendto(answer, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    size = struct.unpack("!H", _read(conn, 2))[0]
                    answer = self._answer(_read(conn, size))
                    conn.sendall(struct.pack("!H", len(answer)) + answer)
                except (OSError, struct.error):
                    pass

    def _answer(self, wire: bytes) -> bytes:
        try:
            msg = dns.message.from_wire(wire, keyring=self.keyring)
        except dns.tsig.PeerError:
            return b""
        except Exception:  # noqa: BLE001 - a malformed message gets no answer, as from a real server under attack
            return b""
        response = dns.message.make_response(msg)
        response.flags |= dns.flags.AA
        if msg.opcode() == dns.opcode.UPDATE:
            if not msg.had_tsig:  # unsigned updates are refused (BIND's allow-update { key ...; })
                response.set_rcode(dns.rcode.REFUSED)
                return response.to_wire()
            with self._lock:
                for rrset in msg.update:
                    name = rrset.name.to_text().lower()
                    values = [r.to_text().strip('"') for r in rrset if rrset.rdtype == dns.rdatatype.TXT]
                    if rrset.deleting is None:
                        self.txt.setdefault(name, []).extend(values)
                        self.updates += [f"add {name} {v}" for v in values]
                        self.signed += [(msg.keyalgorithm.to_text(), rrset.ttl) for _ in values]
                    else:
                        kept = self.txt.get(name, [])
                        self.txt[name] = [v for v in kept if values and v not in values]
                        self.updates += [f"delete {name} {v}" for v in values]
            return response.to_wire()
        for q in msg.question:
            name = q.name.to_text().lower()
            if q.rdtype == dns.rdatatype.A and name.rstrip(".") in self.a:
                response.answer.append(dns.rrset.from_text(q.name, 60, "IN", "A", self.a[name.rstrip(".")]))
            elif q.rdtype == dns.rdatatype.TXT:
                with self._lock:
                    values = list(self.txt.get(name, ()))
                if values:
                    response.answer.append(dns.rrset.from_text_list(q.name, 60, "IN", "TXT", [f'"{v}"' for v in values]))
            elif q.rdtype == dns.rdatatype.SOA and name.rstrip(".") == self.zone:
                response.answer.append(dns.rrset.from_text(q.name, 60, "IN", "SOA", f"ns.{self.zone}. hostmaster.{self.zone}. 1 3600 600 86400 60"))
        return response.to_wire()


def _read(conn: socket.socket, size: int) -> bytes:
    out = b""
    while len(out) < size:
        piece = conn.recv(size - len(out))
        if not piece:
            raise OSError("closed")
        out += piece
    return out


@dataclass
class Pebble:
    """A running Pebble: its directory URL, the CA bundle its HTTPS is checked against, and its roots."""

    process: subprocess.Popen
    directory: str
    ca_bundle: Path
    management: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)

    def root_pem(self) -> bytes:
        context = ssl.create_default_context(cafile=str(self.ca_bundle))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context, timeout=10) as r:
            return r.read()


def _tls_pair(folder: Path, address: str) -> tuple[Path, Path, Path]:
    """A CA and a certificate for Pebble's listeners at ``address`` (its own test certificates are not in the package)."""
    import ipaddress

    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exconf test Pebble listener CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address)), x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "pebble-ca.pem", folder / "pebble-cert.pem", folder / "pebble-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


def start_pebble(folder: Path, address: str, http_port: int, dns_address: str, dns_port: int, port: int = 14000,
                 management_port: int = 15000, validity_days: int = 90, authz_reuse: int = 0) -> Pebble:
    """Pebble issuing certificates valid ``validity_days`` (certificateValidityPeriod; Let's Encrypt's are 90 days),
    counted from the real time: the lab clock does not move Pebble's. ``authz_reuse``: the percentage of valid
    authorizations Pebble hands out again to a new order of the same account (PEBBLE_AUTHZREUSE)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca, cert, key = _tls_pair(folder, address)
    config = folder / "pebble-config.json"
    config.write_text(json.dumps({"pebble": {
        "listenAddress": f"{address}:{port}", "managementListenAddress": f"{address}:{management_port}",
        "certificate": str(cert), "privateKey": str(key), "httpPort": http_port, "tlsPort": 5001,
        "ocspResponderURL": "", "externalAccountBindingRequired": False, "certificateValidityPeriod": validity_days * 86400,
    }}), encoding="utf-8")
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": str(authz_reuse)}
    log = folder / "pebble.log"
    process = subprocess.Popen(["pebble", "-config", str(config), "-dnsserver", f"{dns_address}:{dns_port}", "-strict=false"],
                               stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=folder)
    directory = f"https://{address}:{port}/dir"
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(directory, context=context, timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"pebble did not start: {log.read_text(errors='replace')[-2000:]}") from None
            time.sleep(0.2)
    return Pebble(process, directory, ca, f"https://{address}:{management_port}", log)

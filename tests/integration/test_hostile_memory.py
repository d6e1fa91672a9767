"""Issue 14: a hostile endpoint costs the controller a bounded amount of memory, and only its own host.

``exconf plan`` runs in its own process over two lab servers and one hostile endpoint
(hostile_winrm.py); its peak resident memory is read from the kernel when it ends
(``os.wait4``'s rusage of that very process). Before the bounds, these endpoints drove the
controller to 2.7–5.9 GB and the kernel killed the run with its report.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from functools import lru_cache

import pytest

from exconf.remote import CONTRACT_VERSION

from .conftest import PASSWORD
from .hostile_winrm import RUNNING, HostileWinRM, envelope, pour, receive_body, reply
from .test_transport_bounds import gzip_bomb

PEAK_LIMIT_MB = 300
DONE = RUNNING.replace("/Running", "/Done")

INVENTORY = f"""
all:
  vars:
    ansible_user: CONTOSO\\exadmin
    ansible_password: {PASSWORD}
    exchange:
      receive_connectors:
        "Default {{server}}": {{protocol_logging_level: Verbose}}
  hosts:
    ex01.contoso.lab: {{ansible_host: "{{EX01}}"}}
    ex02.contoso.lab: {{ansible_host: "{{EX02}}"}}
    hostile.contoso.lab:
      ansible_host: "HOSTILE_HOST"
      ansible_port: HOSTILE_PORT
      ansible_winrm_message_encryption: never
      exconf_accept_cleartext: true
      ansible_winrm_operation_timeout_sec: 2
      ansible_winrm_read_timeout_sec: 6
"""


def huge_body(sock, n):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nConnection: close\r\n\r\n")
    pour(sock, b"<a>" * 100_000)
    return False


def bomb(sock, n):
    sock.sendall(reply("200 OK", gzip_bomb(), ("Content-Type: application/soap+xml", "Content-Encoding: gzip")))


def endless_chunks(sock, n):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nTransfer-Encoding: chunked\r\n\r\n")
    pour(sock, b"10000\r\n" + b"x" * 0x10000 + b"\r\n")
    return False


def drip(sock, n):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: 100000\r\n\r\n")
    try:
        for _ in range(100):
            sock.sendall(b"<")
            time.sleep(3)
    except OSError:
        pass
    return False


PIECE = base64.b64encode(b"{" * 100 * 1024).decode()


def endless_stdout(sock, n):
    sock.sendall(reply("200 OK", envelope("uuid:0", receive_body(PIECE))))


@lru_cache(maxsize=1)
def empty_objects() -> list[str]:
    """An answer of the program's shape, under the output limit, holding 2.7 million empty objects (over
    400 MB once parsed), in pieces of 96 KB, one per Receive answer."""
    doc = ('{"exconf":%s,"results":[{"id":"x","status":"ok","objects":[' % json.dumps(CONTRACT_VERSION)
           + ",".join(["{}"] * 2_700_000) + "]}]}\r\n").encode()
    return [base64.b64encode(doc[i:i + 96 * 1024]).decode() for i in range(0, len(doc), 96 * 1024)]


def millions_of_objects(sock, n):
    pieces = empty_objects()
    last = n >= len(pieces)
    body = receive_body(pieces[min(n, len(pieces)) - 1], state=DONE if last else RUNNING)
    if last:
        body = body.replace("/>", "><rsp:ExitCode>0</rsp:ExitCode></rsp:CommandState>", 1)
    sock.sendall(reply("200 OK", envelope("uuid:0", body)))


CASES = {
    # name: (how it misbehaves, at which request, what the hostile host's error says)
    "huge body": (huge_body, "Receive", "the answer passed 524,288 bytes"),
    "gzip bomb": (bomb, "Create", "the answer passed 524,288 bytes once decompressed"),
    "endless chunked stream": (endless_chunks, "*", "the answer passed 524,288 bytes"),
    "one byte every 3 s": (drip, "Receive", "no answer within 6 s"),
    "endless stdout over many Receive answers": (endless_stdout, "Receive", "the command wrote more than 8 MiB"),
    "an answer of millions of empty objects": (millions_of_objects, "Receive", "objects and lists, more than the 200,000"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_endpoint_fails_its_host_alone_within_bounded_memory(make_lab, case):
    misbehave, at, message = CASES[case]
    lab = make_lab([{"name": "EX01", "role": "Mailbox", "site": "Amsterdam"}, {"name": "EX02", "role": "Mailbox", "site": "Amsterdam"}])
    endpoint = HostileWinRM(misbehave, at=at)
    # Under door "winrm" the hostile host takes the program with NTLM, not the Mailbox servers' Kerberos: a
    # Kerberos client asks the KDC for the server's ticket before its first request (the first token rides on
    # it, engine/transport/firsttoken.py), and a host outside the realm has no principal to ask for.
    winrm = {"host_vars/hostile.contoso.lab.yml": "ansible_connection: winrm\n"} if lab.door == "winrm" else None
    path = lab.inventory(INVENTORY.replace("HOSTILE_HOST", endpoint.host).replace("HOSTILE_PORT", str(endpoint.port)),
                         files=winrm)
    out_file, err_file = path.with_suffix(".out"), path.with_suffix(".err")
    try:
        with out_file.open("wb") as out, err_file.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "exconf", "plan", str(path), "--forks", "3"], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        endpoint.stop()
    out, err = out_file.read_text(), err_file.read_text()
    peak_mb = usage.ru_maxrss / 1024  # Linux: kilobytes
    print(f"\n{case}: exit {proc.returncode}, peak RSS {peak_mb:.0f} MB")
    assert proc.returncode == 1, out + err  # one host could not be read
    assert "Traceback" not in out + err
    assert peak_mb < PEAK_LIMIT_MB, f"{case}: peak RSS {peak_mb:.0f} MB"
    recap = {line.split()[0]: line for line in out.splitlines() if line.startswith(("ex0", "hostile"))}
    for host in ("ex01.contoso.lab", "ex02.contoso.lab"):
        assert "unreachable=0    failed=0" in recap[host], out
    assert "unreachable=1" in recap["hostile.contoso.lab"] or "failed=1" in recap["hostile.contoso.lab"], out
    assert message in recap_error(out, "hostile.contoso.lab"), out + err
    if case != "an answer of millions of empty objects":  # a transport error names the endpoint
        assert f"http://{endpoint.host}:{endpoint.port}/wsman: {message}" in out + err, out + err


def recap_error(out: str, host: str) -> str:
    """The error block the plan prints for a host (UNREACHABLE: host / FAILED: host, then its message)."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(f": {host}") and line.split(":")[0] in ("UNREACHABLE", "FAILED"))
    return lines[start + 1]

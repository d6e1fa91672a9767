"""Controller CPU per HTTP request: requests (what pypsrp and exconf's transports use), urllib3 alone, http.client alone.

Issue 20 asks what a leaner client path would save. A WS-Man request of a plan is a POST of a few KB
on a kept connection, answered with a few KB; this posts 4 KB bodies, one connection per client, to a
minimal HTTP/1.1 server in another process on 127.0.0.1 (its CPU is not counted), and prints the
client's CPU per request (``time.process_time``) as min/median/max over the rounds. No
authentication and no message encryption: those cost the same whichever client carries them.

    .venv/bin/python bench/bench_http_clients.py          # 2,000 requests a round, 5 rounds
    .venv/bin/python bench/bench_http_clients.py 500 3    # requests, rounds

Nothing here asserts on time: it prints figures.
"""

from __future__ import annotations

import http.client
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import benchargs

import requests
import urllib3

SERVER = """
import http.server, signal, sys, threading
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the benchmark's; it ends the server
BODY = b"x" * 4096
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY: no 40 ms delayed-ACK stall per request
    wbufsize = -1  # headers and body leave in one write (handle_one_request flushes after each answer)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/soap+xml;charset=UTF-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
threading.Thread(target=lambda: (sys.stdin.read(), server.shutdown()), daemon=True).start()  # ends with its parent
server.serve_forever()
"""
BODY = b"<s:Envelope>" + b"y" * 4000 + b"</s:Envelope>"
HEADERS = {"Content-Type": "application/soap+xml;charset=UTF-8", "User-Agent": "Python PSRP Client", "Accept-Encoding": "identity"}


def clients(port: int) -> dict[str, Callable[[], bytes]]:
    url = f"http://127.0.0.1:{port}/wsman"
    session = requests.Session()
    session.trust_env = False  # as exconf's transports (engine/transport/session.py)

    def with_requests() -> bytes:
        prepared = session.prepare_request(requests.Request("POST", url, data=BODY, headers=HEADERS))
        return session.send(prepared, timeout=30).content

    pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)

    def with_urllib3() -> bytes:
        return pool.urlopen("POST", "/wsman", body=BODY, headers=HEADERS, preload_content=True, retries=False, timeout=30).data

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def with_http_client() -> bytes:
        connection.request("POST", "/wsman", body=BODY, headers=HEADERS)
        return connection.getresponse().read()

    return {"requests": with_requests, "urllib3": with_urllib3, "http.client": with_http_client}


def cpu_per_request(fn: Callable[[], bytes], n: int) -> float:
    fn()  # the connection is made before the clock starts: a plan's requests ride a kept connection
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1000


def main(n: int, rounds: int) -> int:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        made = clients(port)
        figures: dict[str, list[float]] = {name: [] for name in made}
        for _ in range(rounds):
            for name, fn in made.items():  # interleaved, so a change of the machine's speed touches each alike
                figures[name].append(cpu_per_request(fn, n))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"client CPU per request, ms (min/median/max over {rounds} rounds of {n:,} requests):")
    for name, values in figures.items():
        print(f"  {name:12s} {min(values):.3f} / {statistics.median(values):.3f} / {max(values):.3f}")
    return 0


if __name__ == "__main__":
    args = benchargs.sizes(__doc__, (2000, 5), what="requests, then rounds", most=2)
    sys.exit(main(args[0], args[1] if len(args) > 1 else 5))

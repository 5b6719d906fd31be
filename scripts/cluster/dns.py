"""Cluster DNS for the one-node cluster of scripts/cluster.sh: Service names to ClusterIPs (stdlib only).

No CoreDNS image can be pulled here, and pods (the chart's registration Job and `helm test` pod)
reach the webhook by its Service name, `NAME.NAMESPACE.svc`. The kubelet points every pod's
resolv.conf at this server (`clusterDNS`), which answers over UDP:
- `NAME.NAMESPACE.svc.DOMAIN` A: the Service's ClusterIP, read from the API server on demand
  (cached for a few seconds); AAAA and other types for that name: no data; no such Service: NXDOMAIN;
- any other name under DOMAIN: NXDOMAIN; any name outside it: REFUSED (nothing is forwarded off
  the machine).
Wire format: RFC 1035 section 4 (header, question, answer with a compression pointer to the question).

    python3 dns.py --listen 10.200.0.1:53 --server https://10.200.0.1:6443 --ca CA --cert CRT --key KEY
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import re
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

TYPE_A, CLASS_IN = 1, 1
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
TTL_SECONDS, CACHE_SECONDS = 5, 2.0
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class ServiceIPs:
    """ClusterIP of a Service by namespace and name, from the API server, briefly cached."""

    def __init__(self, server: str, context: ssl.SSLContext) -> None:
        self.server, self.context = server, context
        self.cache: dict[tuple[str, str], tuple[float, str | None]] = {}
        self.lock = threading.Lock()

    def cluster_ip(self, namespace: str, name: str) -> str | None:
        """The ClusterIP, or None when the Service does not exist (or is headless). Raises OSError
        when the API server cannot say."""
        key = (namespace, name)
        with self.lock:
            cached = self.cache.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        url = f"{self.server}/api/v1/namespaces/{namespace}/services/{name}"
        try:
            with urllib.request.urlopen(url, timeout=2, context=self.context) as response:
                spec = json.load(response).get("spec", {})
            address = spec.get("clusterIP")
            ip = str(ipaddress.IPv4Address(address)) if address and address != "None" else None
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise OSError(f"API server answered HTTP {exc.code}") from exc
            ip = None
        with self.lock:
            self.cache[key] = (time.monotonic() + CACHE_SECONDS, ip)
        return ip


def parse_question(packet: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, lower-case name, qtype, end offset of the question) of a one-question query."""
    ident, flags, questions = struct.unpack("!HHH", packet[:6])
    if questions != 1:
        raise ValueError("exactly one question expected")
    labels, offset = [], 12
    while True:
        length = packet[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0:
            raise ValueError("compressed names are not expected in a question")
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii").lower())
        offset += 1 + length
    qtype, _qclass = struct.unpack("!HH", packet[offset : offset + 4])
    return ident, flags, ".".join(labels), qtype, offset + 4


def answer(packet: bytes, services: ServiceIPs, domain: str) -> bytes:
    ident, flags, name, qtype, end = parse_question(packet)
    rcode, address = NOERROR, None
    suffix = f".svc.{domain}"
    if name.endswith(suffix) and len(parts := name[: -len(suffix)].split(".")) == 2:
        service, namespace = parts
        if DNS_LABEL.match(service) and DNS_LABEL.match(namespace):
            try:
                address = services.cluster_ip(namespace, service)
                rcode = NOERROR if address else NXDOMAIN
            except OSError as exc:
                print(f"dns: {name}: {exc}", file=sys.stderr)
                rcode = SERVFAIL
        else:
            rcode = NXDOMAIN
    elif name == domain or name.endswith(f".{domain}"):
        rcode = NXDOMAIN
    else:
        rcode = REFUSED
    records = b""
    if address and qtype == TYPE_A:
        records = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, TTL_SECONDS, 4)
        records += ipaddress.IPv4Address(address).packed
    # QR, opcode and RD of the query, AA set, RA clear (no recursion offered)
    reply_flags = 0x8000 | (flags & 0x7900) | 0x0400 | rcode
    header = struct.pack("!HHHHHH", ident, reply_flags, 1, 1 if records else 0, 0, 0)
    return header + packet[12:end] + records


def serve(listen: str, services: ServiceIPs, domain: str) -> None:
    host, port = listen.rsplit(":", 1)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            packet, sock = self.request
            # not a query this server understands: no answer (the resolver retries, then gives up)
            with contextlib.suppress(ValueError, IndexError, struct.error, UnicodeDecodeError):
                sock.sendto(answer(packet, services, domain), self.client_address)

    socketserver.ThreadingUDPServer.daemon_threads = True
    with socketserver.ThreadingUDPServer((host, int(port)), Handler) as server:
        print(f"dns: serving *.svc.{domain} on {listen}", file=sys.stderr, flush=True)
        server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="IP:PORT")
    parser.add_argument("--server", required=True, help="API server URL")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--domain", default="cluster.local")
    args = parser.parse_args()
    context = ssl.create_default_context(cafile=args.ca)
    context.load_cert_chain(args.cert, args.key)
    serve(args.listen, ServiceIPs(args.server.rstrip("/"), context), args.domain.lower())


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Smoke flow against a running Parley over real HTTPS (scripts/container-test.sh).

Registers two users through the API (CAPTCHA, password, TOTP, recovery codes), signs both in
again with password + CAPTCHA + a fresh TOTP code, sends a message from the first to the
second and reads it back as the second. It speaks to CONNECT (an address:port on this
machine) while sending SNI and Host for DOMAIN, trusting only CAFILE, like a browser would.

The server must run with PARLEY__TEST_CAPTCHA_ANSWER (every CAPTCHA's answer is that text):
a test-only setting, never for production.

Prints one line per check, "PASS <what>" or "FAIL <what>: <why>", plus "INFO" lines, and
exits 1 if any check failed. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import socket
import ssl
import struct
import sys
import time
import urllib.parse

FAILED = 0
SPOOFED = "203.0.113.7"


def check(ok: bool, what: str, why: str = "") -> bool:
    global FAILED
    if ok:
        print(f"PASS {what}", flush=True)
    else:
        FAILED += 1
        print(f"FAIL {what}: {why}", flush=True)
    return ok


def info(text: str) -> None:
    print(f"INFO {text}", flush=True)


class Conn(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI (and certificate name) for the site's domain."""

    def __init__(self, connect: str, domain: str, context: ssl.SSLContext):
        host, port = connect.rsplit(":", 1)
        super().__init__(host, int(port), context=context, timeout=30)
        self._domain = domain
        self._ctx = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self._domain)


class Client:
    """One browser: its own cookies and CSRF token."""

    def __init__(self, args: argparse.Namespace, name: str):
        self.args = args
        self.name = name
        self.cookies: dict[str, str] = {}
        self.csrf: str | None = None
        ctx = ssl.create_default_context(cafile=args.cafile)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        self.ctx = ctx
        self.host_header = f"{args.domain}:{args.public_port}"
        self.origin = f"https://{self.host_header}"
        self.last_tls: tuple[str | None, tuple | None] = (None, None)

    def request(self, method: str, path: str, body=None, extra=None):
        conn = Conn(self.args.connect, self.args.domain, self.ctx)
        # Every request claims a forged client address: the server must not believe it from
        # anyone but its trusted proxy, and nginx must overwrite it.
        headers = {
            "Host": self.host_header,
            "Accept": "application/json",
            "X-Forwarded-For": SPOOFED,
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if method not in ("GET", "HEAD"):
            headers["Origin"] = self.origin
            headers["Sec-Fetch-Site"] = "same-origin"
            if self.csrf:
                headers["X-CSRF-Token"] = self.csrf
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        headers.update(extra or {})
        try:
            conn.request(method, path, body=data, headers=headers)
            self.last_tls = (conn.sock.version(), conn.sock.cipher())
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        for value in resp.headers.get_all("Set-Cookie") or []:
            pair = value.split(";", 1)[0]
            name, _, val = pair.partition("=")
            if val == "" or "Max-Age=0" in value or "max-age=0" in value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = val.strip()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return resp.status, resp.headers, payload


class WebSocket:
    """Just enough of RFC 6455 for the test: the handshake, then reading text frames."""

    def __init__(self, c: Client):
        raw = socket.create_connection(c.args.connect.rsplit(":", 1), 30)
        self.sock = c.ctx.wrap_socket(raw, server_hostname=c.args.domain)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            "GET /api/ws HTTP/1.1",
            f"Host: {c.host_header}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Origin: {c.origin}",
            "Cookie: " + "; ".join(f"{k}={v}" for k, v in c.cookies.items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                break
            head += chunk
        self.status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
        self.buffer = b""

    @property
    def upgraded(self) -> bool:
        return self.status_line.split(" ")[1:2] == ["101"]

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out

    def next_json(self, deadline: float):
        """The next text frame as JSON, or None at the deadline."""
        while True:
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                b0, b1 = self._read(2)
                length = b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._read(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._read(8))[0]
                data = self._read(length)
            except (TimeoutError, socket.timeout, ConnectionError):
                return None
            opcode = b0 & 0x0F
            if opcode == 1:
                return json.loads(data)
            if opcode == 8:
                return None

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def message_payloads(frame) -> list:
    if not isinstance(frame, dict) or frame.get("type") != "message":
        return []
    payload = frame.get("message", {}).get("payload")
    return [json.loads(payload) if isinstance(payload, str) else payload]


def new_payload(counter: int) -> dict:
    return {
        "v": 1,
        "type": "msg",
        "key_set": "smoke",
        "iv": base64.b64encode(counter.to_bytes(12, "big")).decode(),
        # AES-GCM output is the text plus a 16-byte tag; the server checks that length only.
        "ciphertext": base64.b64encode(b"smoke" + os.urandom(16)).decode(),
        "mac": base64.b64encode(os.urandom(32)).decode(),
    }


def totp(secret_b32: str, step: int) -> str:
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


class User:
    def __init__(self, args: argparse.Namespace, label: str):
        self.args = args
        self.username = f"{label}_{secrets.token_hex(4)}"
        # Long and random: passes the breach list, zxcvbn and the context checks.
        self.password = f"Smoke {secrets.token_urlsafe(18)} test"
        self.secret = ""
        self.last_step = -1
        self.id = ""

    def next_code(self) -> str:
        """A code the server has not seen: the current step, or the one after the last used
        (the ±1 window accepts it), because each step is accepted only once."""
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return totp(self.secret, step)


def post_with_captcha(args: argparse.Namespace, user: User, path: str, fields: dict) -> tuple | None:
    """A new client for USER gets a CAPTCHA, then POSTs PATH with USER's username and password,
    FIELDS, and the CAPTCHA's id and (test) answer: (client, status, body), or None when no
    CAPTCHA came (a failed check)."""
    c = Client(args, user.username)
    status, _, body = c.request("GET", "/api/captcha")
    if status != 200 or not isinstance(body, dict) or "id" not in body:
        check(False, f"{c.name}: GET /api/captcha", f"status {status}: {body}")
        return None
    status, _, answer = c.request(
        "POST",
        path,
        {
            "username": user.username,
            "password": user.password,
            **fields,
            "captcha_id": body["id"],
            "captcha_answer": args.captcha,
        },
    )
    return c, status, answer


def register(args: argparse.Namespace, user: User) -> bool:
    sent = post_with_captcha(args, user, "/api/register", {"password_confirm": user.password})
    if sent is None:
        return False
    c, status, body = sent
    if not check(
        status == 201 and isinstance(body, dict) and body.get("stage") == "totp",
        f"{user.username}: POST /api/register -> 201 with a TOTP secret",
        f"status {status}: {body}",
    ):
        return False
    user.secret = body["totp"]["secret"]
    query = urllib.parse.parse_qs(urllib.parse.urlparse(body["totp"]["otpauth_uri"]).query)
    if query.get("algorithm", ["SHA1"])[0] != "SHA1" or query.get("digits", ["6"])[0] != "6":
        return check(False, f"{user.username}: TOTP parameters", str(query))
    status, _, body = c.request("POST", "/api/register/totp", {"code": user.next_code()})
    if not check(
        status == 200 and len((body or {}).get("recovery_codes", [])) == 10,
        f"{user.username}: POST /api/register/totp with the computed code -> 10 recovery codes",
        f"status {status}: {body}",
    ):
        return False
    status, _, body = c.request("POST", "/api/register/finish", {"saved": True})
    if not check(
        status == 201 and isinstance(body, dict) and body.get("user", {}).get("id"),
        f"{user.username}: POST /api/register/finish -> 201, account exists",
        f"status {status}: {body}",
    ):
        return False
    user.id = body["user"]["id"]
    return True


def login(args: argparse.Namespace, user: User) -> Client | None:
    sent = post_with_captcha(args, user, "/api/login", {})
    if sent is None:
        return None
    c, status, body = sent
    if not check(
        status == 200 and (body or {}).get("stage") == "second_factor",
        f"{user.username}: POST /api/login (password + CAPTCHA) -> second factor",
        f"status {status}: {body}",
    ):
        return None
    status, _, body = c.request("POST", "/api/login/totp", {"code": user.next_code()})
    if not check(
        status == 200 and (body or {}).get("csrf_token"),
        f"{user.username}: POST /api/login/totp with a fresh code -> signed in",
        f"status {status}: {body}",
    ):
        return None
    c.csrf = body["csrf_token"]
    status, _, body = c.request("GET", "/api/me")
    check(
        status == 200 and (body or {}).get("user", {}).get("username") == user.username,
        f"{user.username}: GET /api/me names the user",
        f"status {status}: {body}",
    )
    return c


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True, help="address:port to connect to")
    p.add_argument("--domain", required=True, help="SNI and Host name")
    p.add_argument("--public-port", required=True, type=int, help="port in Host/Origin")
    p.add_argument("--cafile", required=True)
    p.add_argument("--captcha", default=os.environ.get("PARLEY_SMOKE_CAPTCHA", "smoke"))
    p.add_argument("--label", default="smoke")
    p.add_argument(
        "--proxy-address",
        help="the proxy's own address: the security log must show the client's, not this",
    )
    args = p.parse_args()

    c = Client(args, "anonymous")
    status, headers, body = c.request("GET", "/api/health")
    check(status == 200 and (body or {}).get("status") == "ok", "GET /api/health -> 200 ok",
          f"status {status}: {body}")
    version, cipher = c.last_tls
    check(
        version == "TLSv1.3" and cipher and cipher[0] == "TLS_CHACHA20_POLY1305_SHA256",
        "the HTTPS client negotiated TLSv1.3 with TLS_CHACHA20_POLY1305_SHA256",
        f"{version} {cipher}",
    )
    hsts = headers.get_all("Strict-Transport-Security") or []
    check(hsts == ["max-age=604800"], "exactly one HSTS header, max-age=604800 (T5)", str(hsts))
    status, _, _ = c.request("GET", "/")
    check(status == 200, "GET / serves the browser client", f"status {status}")

    alice, bob = User(args, f"{args.label}a"), User(args, f"{args.label}b")
    if not (register(args, alice) and register(args, bob)):
        return 1
    ca, cb = login(args, alice), login(args, bob)
    if ca is None or cb is None:
        return 1

    sent = new_payload(1)
    status, _, body = ca.request("POST", f"/api/conversations/{bob.id}/messages", {"payload": sent})
    if status == 404:
        check(False, "POST /api/conversations/{peer}/messages",
              "404: the messaging API is missing")
        return 1
    check(status == 201, f"{alice.username} -> {bob.username}: message sent (201)",
          f"status {status}: {body}")
    status, _, body = cb.request("GET", f"/api/conversations/{alice.id}/messages")
    messages = (body or {}).get("messages", []) if isinstance(body, dict) else []
    payloads = [m.get("payload") for m in messages]
    payloads = [json.loads(x) if isinstance(x, str) else x for x in payloads]
    check(status == 200 and sent in payloads,
          f"{bob.username} reads the conversation and gets the same ciphertext",
          f"status {status}: {body}")

    # WebSocket (X1): the upgrade passes (through nginx too), the backlog holds the message,
    # and a new message is pushed at once.
    ws = WebSocket(cb)
    if check(ws.upgraded, f"{bob.username}: GET /api/ws upgrades to a WebSocket (101)",
             ws.status_line):
        got, done = [], False
        deadline = time.time() + 10
        while not done:
            frame = ws.next_json(deadline)
            if frame is None:
                break
            got += message_payloads(frame)
            done = isinstance(frame, dict) and frame.get("type") == "backlog_done"
        check(done and sent in got, "the WebSocket backlog delivers the message",
              f"backlog_done={done}, {len(got)} messages")
        second = new_payload(2)
        started = time.time()
        status, _, body = ca.request(
            "POST", f"/api/conversations/{bob.id}/messages", {"payload": second}
        )
        pushed = False
        deadline = time.time() + 10
        while not pushed:
            frame = ws.next_json(deadline)
            if frame is None:
                break
            pushed = second in message_payloads(frame)
        check(status == 201 and pushed,
              f"a new message is pushed over {bob.username}'s open WebSocket",
              f"send status {status}, pushed={pushed} within 10 s")
        if pushed:
            info(f"push arrived {time.time() - started:.2f} s after the send began")
    ws.close()

    # X-Forwarded-For: what the server records as the client's address.
    status, _, body = ca.request("GET", "/api/account/security-log")
    events = (body or {}).get("events", []) if isinstance(body, dict) else []
    ips = sorted({e.get("ip") for e in events if e.get("ip")})
    info(f"addresses in {alice.username}'s security log: {ips}")
    check(status == 200 and ips != [] and SPOOFED not in ips,
          "a client's own X-Forwarded-For is not believed (security log)", f"status {status}: {ips}")
    if args.proxy_address:
        check(args.proxy_address not in ips,
              f"the security log shows the client's address, not the proxy's "
              f"({args.proxy_address}): X-Forwarded-For from the proxy is believed", str(ips))

    status, _, _ = ca.request("POST", "/api/logout", {})
    check(status == 204, f"{alice.username}: POST /api/logout -> 204", f"status {status}")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

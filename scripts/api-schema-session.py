#!/usr/bin/env python3
"""Signs up a fresh user on a test server and prints the two headers a signed-in request
needs, one per line: `Cookie: __Host-parley_session=…` and `X-CSRF-Token: …`.

    api-schema-session.py BASE_URL CA_FILE CAPTCHA_ANSWER

For scripts/api-schema-check.sh (issue 11): the server runs with a fixed CAPTCHA answer. The
registration is the three steps of docs/api.md; the TOTP code is computed here (RFC 6238).
"""

import base64
import hashlib
import hmac
import http.cookiejar
import json
import secrets
import ssl
import struct
import sys
import time
import urllib.request


def main() -> None:
    base, ca, answer = sys.argv[1], sys.argv[2], sys.argv[3]
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=ca)),
        urllib.request.HTTPCookieProcessor(jar),
    )

    def call(method: str, path: str, body=None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with opener.open(req) as res:
            return json.loads(res.read() or b"{}")

    captcha = call("GET", "/api/captcha")
    password = "Tangerine lighthouse drifts 47 furlongs"
    started = call(
        "POST",
        "/api/register",
        {
            "username": "schema_" + secrets.token_hex(4),
            "password": password,
            "password_confirm": password,
            "captcha_id": captcha["id"],
            "captcha_answer": answer,
        },
    )
    secret = started["totp"]["secret"]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    call("POST", "/api/register/totp", {"code": f"{code:06d}"})
    signed_in = call("POST", "/api/register/finish", {"saved": True})
    session = next(c.value for c in jar if c.name == "__Host-parley_session")
    print(f"Cookie: __Host-parley_session={session}")
    print(f"X-CSRF-Token: {signed_in['csrf_token']}")


if __name__ == "__main__":
    main()

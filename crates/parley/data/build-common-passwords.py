#!/usr/bin/env python3
"""Rebuild common-passwords.txt.gz (Parley's offline breached/common-password list).

Usage (see PROVENANCE.md for how the two inputs are obtained):

    python3 build-common-passwords.py \
        django/contrib/auth/common-passwords.txt.gz \
        package/src/passwords.json \
        common-passwords.txt.gz

Each entry is NFKC-normalized (UAX #15, the same normalization the server applies to every
password) and lower-cased (Python's str.lower, which matches Rust's str::to_lowercase for these
entries), then the union is de-duplicated, sorted by code point and written one per line (UTF-8,
"\n"-terminated). The gzip header carries no file name and mtime 0 so that rebuilding from the
same inputs gives byte-identical output.
"""

import gzip
import json
import sys
import unicodedata


def norm(entry: str) -> str:
    return unicodedata.normalize("NFKC", entry).lower()


def main() -> None:
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    django_gz, zxcvbn_json, out = sys.argv[1:]

    with gzip.open(django_gz, "rt", encoding="utf-8") as f:
        django = {norm(line.rstrip("\r\n")) for line in f}
    with open(zxcvbn_json, encoding="utf-8") as f:
        zxcvbn = {norm(p) for p in json.load(f)}

    entries = sorted(e for e in django | zxcvbn if e and "\n" not in e)
    data = "".join(e + "\n" for e in entries).encode("utf-8")
    with open(out, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            gz.write(data)

    print(
        f"django: {len(django)}  zxcvbn-ts: {len(zxcvbn)}  both: {len(django & zxcvbn)}  "
        f"union: {len(entries)}  uncompressed: {len(data)} bytes",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

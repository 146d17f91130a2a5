#!/usr/bin/env python3
"""totp.py - the demo's stand-in for a subject's authenticator app: reads
the otpauth:// URI that `twokey factor enroll` printed (first line of
FILE) and prints the current RFC 6238 code. Usage: totp.py FILE"""

import base64
import hashlib
import hmac
import struct
import sys
import time
import urllib.parse


def main():
    with open(sys.argv[1]) as f:
        uri = f.readline().strip()
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)
    secret = q["secret"][0].upper()
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    alg = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256}[
        q.get("algorithm", ["SHA1"])[0]]
    period = int(q.get("period", ["30"])[0])
    digits = int(q.get("digits", ["6"])[0])
    h = hmac.new(key, struct.pack(">Q", int(time.time()) // period),
                 alg).digest()
    o = h[-1] & 0x0F
    v = struct.unpack(">I", h[o:o + 4])[0] & 0x7FFFFFFF
    print("%0*d" % (digits, v % 10 ** digits))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""auth_tool.py: what tests/integration/auth.sh needs to talk to ferry-auth:
keys (an RSA pair and a JWKS of it and an HMAC secret), tokens signed right
or forged (HS256 with any key bytes, RS256, any header), and events as
NDJSON lines. Standard library, and python3-cryptography for RSA.

    auth_tool.py keys DIR
    auth_tool.py token DIR KID CLAIMS [HEADER]   header fields override
    auth_tool.py forge-hs256 KEYFILE CLAIMS HEADER
    auth_tool.py event TYPE PAYLOAD [ID [OCCURRED_AT]]
"""
import base64, hashlib, hmac, json, sys, time, uuid, datetime

COMPANY = "5f0e6a43-6d0c-4a55-9a55-0a5b1d7c2e11"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def claims_of(text):
    claims = json.loads(text)
    now = int(time.time())
    claims.setdefault("iat", now)
    claims.setdefault("exp", now + 900)
    return claims


def hs256(key, header, claims):
    signing = b64(compact(header)) + "." + b64(compact(claims))
    mac = hmac.new(key, signing.encode(), hashlib.sha256).digest()
    return signing + "." + b64(mac)


def keys(folder):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(folder + "/rsa.pem", "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(folder + "/rsa.pub", "wb") as out:
        out.write(public)
    secret = b"user-token-secret-0123456789abcdef-0123"
    with open(folder + "/secret", "wb") as out:
        out.write(secret)
    numbers = key.public_key().public_numbers()
    def big(n):
        return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))
    jwks = {"keys": [
        {"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig",
         "n": big(numbers.n), "e": big(numbers.e)},
        {"kty": "oct", "kid": "hs-1", "alg": "HS256", "k": b64(secret)},
        {"kty": "EC", "kid": "enc-1", "use": "enc", "crv": "P-256",
         "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
         "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},
    ]}
    with open(folder + "/jwks.json", "w") as out:
        json.dump(jwks, out)


def token(folder, kid, claims, header):
    header = dict({"typ": "JWT", "kid": kid}, **header)
    if kid == "hs-1":
        header.setdefault("alg", "HS256")
        with open(folder + "/secret", "rb") as f:
            return hs256(f.read(), header, claims)
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    header.setdefault("alg", "RS256")
    with open(folder + "/rsa.pem", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    signing = b64(compact(header)) + "." + b64(compact(claims))
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64(sig)


def event(kind, payload, ident=None, at=None):
    if not at:
        at = datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return json.dumps({"id": ident or str(uuid.uuid4()), "type": kind,
                       "version": 1, "source": "test", "occurredAt": at,
                       "companyId": COMPANY, "actorId": None,
                       "payload": json.loads(payload)})


def main(argv):
    if argv[1] == "keys":
        keys(argv[2])
    elif argv[1] == "token":
        header = json.loads(argv[5]) if len(argv) > 5 else {}
        print(token(argv[2], argv[3], claims_of(argv[4]), header))
    elif argv[1] == "forge-hs256":
        with open(argv[2], "rb") as f:
            print(hs256(f.read(), json.loads(argv[4]), claims_of(argv[3])))
    elif argv[1] == "event":
        print(event(argv[2], argv[3], *argv[4:6]))
    else:
        sys.exit("auth_tool.py: unknown command " + argv[1])


main(sys.argv)

#!/usr/bin/python3
"""Writes the JWT test cases for test_jwt.c: fresh keys every run (no
private key is kept in the repository), a JWKS file, and one line per
token, "EXPECTED TOKEN" (EXPECTED as jwt_rc_name() spells it).

    mkjwt.py OUT_JWKS OUT_CASES

Times are relative to NOW, which test_jwt.c passes as the clock."""
import base64
import hashlib
import hmac
import json
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

NOW = 1700000000
ISS = "https://issuer.example"
AUD = "smtp.example.test"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(**over):
    c = {"iss": ISS, "aud": AUD, "exp": NOW + 3600, "nbf": NOW - 10,
         "iat": NOW - 10, "email": "alice@example.com", "sub": "1234"}
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def main(out_jwks, out_cases):
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    rsa_jwk.update(kid="rsa1", use="sig", alg="RS256")
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    ec_jwk.update(kid="ec1", use="sig")
    enc_jwk = dict(rsa_jwk, kid="enc1", use="enc")     # skipped: not for signatures
    rsa2_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(other_rsa.public_key()))
    rsa2_jwk.update(kid="rsa2")
    with open(out_jwks, "w") as f:
        json.dump({"keys": [rsa_jwk, ec_jwk, enc_jwk, rsa2_jwk, {"kty": "oct", "k": "c2VjcmV0"}]}, f)

    def rs(c, key=rsa_key, kid="rsa1", **kw):
        return jwt.encode(c, key, algorithm="RS256", headers={"kid": kid} if kid else None, **kw)

    def jws(payload):
        return jwt.api_jws.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "rsa1"})

    def es(c, kid="ec1"):
        return jwt.encode(c, ec_key, algorithm="ES256", headers={"kid": kid})

    good = rs(claims())
    h, p, s = good.split(".")
    other_payload = rs(claims(email="mallory@example.com")).split(".")[1]
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    none_hdr = b64u(json.dumps({"alg": "none", "kid": "rsa1"}).encode())
    hs_hdr = b64u(json.dumps({"alg": "HS256", "kid": "rsa1"}).encode())
    hs_sig = b64u(hmac.new(pem, (hs_hdr + "." + p).encode(), hashlib.sha256).digest())
    crit_hdr = b64u(json.dumps({"alg": "RS256", "kid": "rsa1", "crit": ["exp"]}).encode())
    es_good = es(claims())
    eh, ep, esig = es_good.split(".")
    der = ec_key.sign((eh + "." + ep).encode(), ec.ECDSA(hashes.SHA256()))
    cases = [
        ("ok", good),
        ("ok", es_good),
        ("ok", rs(claims(aud=["other", AUD]))),
        ("ok", rs(claims(exp=NOW - 30))),           # inside the 60 s leeway
        ("ok", jwt.encode(claims(), ec_key, algorithm="ES256")),  # no kid, one EC key
        ("unknown_key", rs(claims(), kid=None)),    # no kid, but two RSA keys
        ("expired", rs(claims(exp=NOW - 120))),
        ("expired", rs(claims(exp=None))),
        ("not_yet_valid", rs(claims(nbf=NOW + 300))),
        ("bad_audience", rs(claims(aud="someone.else"))),
        ("bad_audience", rs(claims(aud=["a", "b"]))),
        ("bad_audience", rs(claims(aud=None))),
        ("bad_issuer", rs(claims(iss="https://evil.example"))),
        ("bad_issuer", rs(claims(iss=None))),
        ("bad_signature", rs(claims(), key=stranger)),
        ("bad_signature", rs(claims(), key=other_rsa)),     # rsa2's key, rsa1's kid
        ("ok", rs(claims(), key=other_rsa, kid="rsa2")),
        ("bad_signature", h + "." + other_payload + "." + s),
        ("bad_signature", eh + "." + ep + "." + b64u(der)),  # DER, not r||s
        ("bad_signature", h + "." + p + "." + s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB")),
        ("unknown_key", rs(claims(), kid="nope")),
        ("unknown_key", rs(claims(), kid="enc1")),  # an encryption key
        ("unknown_key", rs(claims(), kid="ec1")),   # an EC key for RS256
        ("bad_alg", none_hdr + "." + p + "."),
        ("bad_alg", hs_hdr + "." + p + "." + hs_sig),
        ("bad_alg", crit_hdr + "." + p + "." + s),
        ("no_user", rs(claims(email=None))),
        ("no_user", rs(claims(email=""))),
        ("no_user", rs(claims(email=42))),
        ("malformed", h + "." + p),
        ("malformed", h + "." + p + "." + s + ".x"),
        ("bad_alg", "e30." + p + "." + s),            # {} header: no alg
        ("bad_signature", h + "." + p + "=." + s),   # the signature covers the text
        ("malformed", jws(b"not json")),             # signed, but not JSON
        ("malformed", jws(b"[1, 2]")),               # signed JSON, not an object
        ("malformed", jws(b'{"exp": 1, "exp": 2}')),  # duplicate member
    ]
    with open(out_cases, "w") as f:
        for e, t in cases:
            f.write(f"{e} {t}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

"""A real HTTP server on 127.0.0.1 serving a JWKS the tests control (no network needed)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeAlias

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm, ECAlgorithm, OKPAlgorithm, RSAAlgorithm

# The kinds of key the tests sign with, one per algorithm they serve.
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# Each algorithm's JWK encoder, typed as their base class: a literal dict of the three would join
# to a bare metaclass without to_jwk.
JWK_ENCODERS: dict[str, type[Algorithm]] = {
    "EdDSA": OKPAlgorithm,
    "RS256": RSAAlgorithm,
    "ES256": ECAlgorithm,
}


@dataclass
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    @classmethod
    def generate(cls, kid: str, alg: str) -> SigningKey:
        if alg == "EdDSA":
            return cls(kid, alg, ed25519.Ed25519PrivateKey.generate())
        if alg == "RS256":
            return cls(kid, alg, rsa.generate_private_key(public_exponent=65537, key_size=2048))
        if alg == "ES256":
            return cls(kid, alg, ec.generate_private_key(ec.SECP256R1()))
        raise ValueError(alg)

    def public_jwk(self) -> dict[str, Any]:
        jwk = JWK_ENCODERS[self.alg].to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], kid: str | None = "same") -> str:
        headers = {"kid": self.kid if kid == "same" else kid}
        if headers["kid"] is None:
            headers = {}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)


@dataclass
class JwksServer:
    url: str
    keys: list[SigningKey] = field(default_factory=list)
    requests: int = 0
    fail: bool = False
    # Seconds between the bytes of the body: a key server that trickles its answer, which a
    # per-read timeout never catches.
    trickle_delay: float = 0.0

    def document(self) -> bytes:
        return json.dumps({"keys": [key.public_jwk() for key in self.keys]}).encode()


@contextmanager
def serve_jwks(keys: list[SigningKey]) -> Iterator[JwksServer]:
    state = JwksServer(url="", keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests += 1
            if state.fail:
                self.send_error(500)
                return
            body = state.document()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not state.trickle_delay:
                self.wfile.write(body)
                return
            for index in range(len(body)):  # bounded: ends when the client hangs up
                time.sleep(state.trickle_delay)
                try:
                    self.wfile.write(body[index : index + 1])
                    self.wfile.flush()
                except OSError:
                    return

        def log_message(self, format: str, *args: Any) -> None:  # silence test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/api/auth/jwks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()

"""Who is calling: roles, principals, and the two kinds of bearer token every KGO service
accepts.

* **API tokens** (``kgo_...``): opaque, long-lived, stored hashed by the wallet, revocable
  (``kgo wallet token create``). The wallet looks them up itself; every other service asks
  the wallet (``POST /v1/tokens/introspect``) through :class:`WalletIntrospection`, caching
  an answer for a few seconds, so one token works on every service's API.
* **Access tokens** (``kgoa_...``): short-lived, signed by the wallet with Ed25519 (residents
  get them at sign-in). Any service checks one with the wallet's public key alone:
  ``kgoa_`` + base64url(JSON claims) + ``.`` + base64url(signature over the claims' bytes).

Keys: the wallet's signing key is ``KGO_ACCESS_SIGNING_KEY`` (base64url of the 32-byte
Ed25519 seed); services that only verify may be given ``KGO_ACCESS_PUBLIC_KEY`` instead.
On a developer machine (``KGO_PROFILE=development``, the default) a missing key is generated
once into ``$KGO_HOME/secrets/access-signing.key``; in production a missing or malformed key
stops the service from starting.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol
from uuid import UUID, uuid4

import httpx
import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from kgo_runtime.clock import Clock, SystemClock
from kgo_runtime.logging import get_logger
from kgo_runtime.problems import ProblemError
from kgo_runtime.writes import json_only

log = get_logger(__name__)

ACCESS_PREFIX = "kgoa_"
API_TOKEN_PREFIX = "kgo_"
#: A presented token longer than this is refused without any work.
MAX_PRESENTED_LENGTH = 2048


class Role(StrEnum):
    MUNICIPAL_ADMIN = "municipal_admin"
    PROGRAMME_OPERATOR = "programme_operator"
    AUDITOR = "auditor"
    #: A shop or the bus operator, paid only to itself.
    PAYEE = "payee"
    RESIDENT = "resident"
    #: Another city service (merchant, transit, missions calling the wallet).
    SERVICE = "service"
    #: Staff at a municipal counter registering residents without a smartphone.
    COUNTER_STAFF = "counter_staff"


ROLE_NAMES = frozenset(role.value for role in Role)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    token_id: UUID
    role: Role
    name: str
    subject: str | None

    @property
    def caller(self) -> str:
        return f"{self.role}:{self.subject or self.name}"


def unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str) -> ProblemError:
    return ProblemError(403, "forbidden", detail)


# --- signed access tokens --------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class IssuedAccess:
    token: str
    token_id: UUID
    expires_at: datetime


class AccessSigner:
    """Signs access tokens (the wallet only)."""

    def __init__(self, key: Ed25519PrivateKey, clock: Clock | None = None) -> None:
        self._key = key
        self._clock = clock or SystemClock()
        self.verifier = AccessVerifier(key.public_key(), clock=self._clock)

    def issue(self, role: Role, name: str, subject: str | None, ttl: timedelta) -> IssuedAccess:
        now = self._clock.now()
        token_id = uuid4()
        expires = now + ttl
        claims = {
            "v": 1,
            "jti": str(token_id),
            "role": str(role),
            "name": name,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        body = orjson.dumps(claims)
        token = f"{ACCESS_PREFIX}{_b64(body)}.{_b64(self._key.sign(body))}"
        return IssuedAccess(token, token_id, expires)


class AccessVerifier:
    """Checks access tokens with the wallet's public key; no I/O."""

    def __init__(self, key: Ed25519PublicKey, clock: Clock | None = None) -> None:
        self._key = key
        self._clock = clock or SystemClock()

    def verify(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired token; None for anything else."""
        if not token.startswith(ACCESS_PREFIX) or len(token) > MAX_PRESENTED_LENGTH:
            return None
        try:
            body_part, sig_part = token[len(ACCESS_PREFIX) :].split(".", 1)
            body, signature = _unb64(body_part), _unb64(sig_part)
            self._key.verify(signature, body)
            claims: dict[str, Any] = orjson.loads(body)
            if claims.get("v") != 1 or claims.get("role") not in ROLE_NAMES:
                return None
            if int(claims["exp"]) <= self._clock.now().timestamp():
                return None
            subject = claims.get("sub")
            return Principal(
                UUID(claims["jti"]),
                Role(claims["role"]),
                str(claims["name"]),
                None if subject is None else str(subject),
            )
        except (InvalidSignature, ValueError, KeyError, TypeError, binascii.Error):
            return None


# --- keys ------------------------------------------------------------------------------------


class AccessSettings(BaseSettings):
    """Keys of the access tokens (env prefix ``KGO_``)."""

    model_config = SettingsConfigDict(env_prefix="KGO_", extra="ignore")

    profile: Literal["development", "demo", "production"] = "development"
    access_signing_key: SecretStr | None = None
    access_public_key: str | None = None
    home: Path = Path(__file__).resolve().parents[1] / ".kgo"


class AccessKeyError(ValueError):
    """A key is missing or malformed (the service must not become ready)."""


def _seed(text: str, what: str) -> bytes:
    try:
        raw = _unb64(text.strip())
    except (binascii.Error, ValueError):
        raise AccessKeyError(f"{what} is not base64url") from None
    if len(raw) != 32:
        raise AccessKeyError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def signing_key(settings: AccessSettings | None = None) -> Ed25519PrivateKey:
    """The wallet's signing key: configured, or (development and demo only) generated once
    into ``$KGO_HOME/secrets/access-signing.key``."""
    settings = settings or AccessSettings()
    if settings.access_signing_key is not None:
        seed = _seed(settings.access_signing_key.get_secret_value(), "KGO_ACCESS_SIGNING_KEY")
        return Ed25519PrivateKey.from_private_bytes(seed)
    if settings.profile == "production":
        raise AccessKeyError("KGO_ACCESS_SIGNING_KEY is required in production")
    path = settings.home / "secrets" / "access-signing.key"
    return Ed25519PrivateKey.from_private_bytes(_seed(dev_secret(path), str(path)))


def public_key(settings: AccessSettings | None = None) -> Ed25519PublicKey:
    """The key that checks access tokens: ``KGO_ACCESS_PUBLIC_KEY`` if set, else derived
    from the signing key."""
    settings = settings or AccessSettings()
    if settings.access_public_key:
        raw = _seed(settings.access_public_key, "KGO_ACCESS_PUBLIC_KEY")
        return Ed25519PublicKey.from_public_bytes(raw)
    return signing_key(settings).public_key()


def public_key_text(key: Ed25519PublicKey) -> str:
    return _b64(key.public_bytes(Encoding.Raw, PublicFormat.Raw))


def dev_secret(path: Path) -> str:
    """Read a development secret, creating it atomically if missing: the file appears
    complete or not at all (written aside, then linked), so a racing process never reads
    an empty key."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(_b64(secrets.token_bytes(32)))
    try:
        os.link(aside, path)
    except FileExistsError:
        pass
    finally:
        aside.unlink()
    return path.read_text()


# --- API tokens checked at the wallet ---------------------------------------------------------


class _Poster(Protocol):
    async def post(self, path: str, json: Any) -> httpx.Response: ...


class WalletIntrospection:
    """Asks the wallet what an opaque API token stands for; answers cached ``cache_seconds``
    (a revocation reaches this service within that time)."""

    def __init__(
        self,
        client: _Poster,
        *,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[Principal | None, float]] = {}

    async def principal(self, token: str) -> Principal | None:
        now = self._monotonic()
        cached = self._cache.get(token)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            response = await self._client.post("/v1/tokens/introspect", json={"token": token})
        except httpx.HTTPError as error:
            raise ProblemError(
                503, "wallet_unavailable", "tokens cannot be checked right now; retry shortly",
                headers={"Retry-After": "1"},
            ) from error  # fmt: skip
        if response.status_code != 200:
            raise ProblemError(
                503, "wallet_unavailable", "tokens cannot be checked right now; retry shortly",
                headers={"Retry-After": "1"},
            )  # fmt: skip
        answer = response.json()
        found = None
        if answer.get("active") and answer.get("role") in ROLE_NAMES:
            found = Principal(
                UUID(answer["token_id"]), Role(answer["role"]), answer["name"], answer["subject"]
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[token] = (found, now + self._cache_seconds)
        return found


# --- FastAPI dependencies for services other than the wallet -----------------------------------


@dataclass
class Authenticator:
    """What a service's routes use to know the caller: the access-token verifier and, for
    API tokens, the wallet's introspection (None: API tokens are refused)."""

    verifier: AccessVerifier
    introspection: WalletIntrospection | None = None
    #: Extra authenticators tried first for a service's own device credentials (a till's or
    #: a validator's secret); each returns a principal or None.
    devices: tuple[Callable[[str], Awaitable[Principal | None]], ...] = ()

    async def principal(self, token: str) -> Principal | None:
        if len(token) > MAX_PRESENTED_LENGTH:
            return None
        for device in self.devices:
            found = await device(token)
            if found is not None:
                return found
        if token.startswith(ACCESS_PREFIX):
            return self.verifier.verify(token)
        if token.startswith(API_TOKEN_PREFIX) and self.introspection is not None:
            return await self.introspection.principal(token)
        return None


_bearer = HTTPBearer(
    auto_error=False,
    bearerFormat="kgo_... or kgoa_...",
    description="A KGO API token (`kgo wallet token create`) or an access token from sign-in.",
)


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def authenticate(request: Request, credentials: Credentials) -> Principal:
    """The caller of a request (401 without a valid token). Needs ``app.state.access``."""
    if credentials is None:
        raise unauthenticated("send a token as 'Authorization: Bearer <token>'")
    auth: Authenticator | None = getattr(request.app.state, "access", None)
    if auth is None:
        raise ProblemError(
            503, "not_ready", "still starting; retry shortly", headers={"Retry-After": "1"}
        )
    principal = await auth.principal(credentials.credentials)
    if principal is None:
        raise unauthenticated("the token is unknown, expired or revoked")
    return principal


def allow(*roles: Role, json_body: bool = False) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the caller, if its role is one of ``roles``; 403 otherwise. With
    ``json_body``, then 415 for a body that is not JSON (:func:`kgo_runtime.writes.json_only`).

    One dependency, not a chain (``authenticate`` is called, not depended on): FastAPI solves
    every dependency of a route separately on every request. ``kgo_runtime.route_table``
    reads ``roles`` from this closure."""

    async def allowed(request: Request, credentials: Credentials) -> Principal:
        principal = await authenticate(request, credentials)
        if principal.role not in roles:
            raise forbidden(f"a {principal.role} token may not do this")
        if json_body:
            await json_only(request)
        return principal

    return allowed

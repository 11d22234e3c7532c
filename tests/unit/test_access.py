"""Access tokens: signed by the wallet, checked anywhere with the public key alone."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kgo_runtime.access import (
    AccessKeyError,
    AccessSettings,
    AccessSigner,
    AccessVerifier,
    Role,
    public_key,
    public_key_text,
    signing_key,
)
from kgo_runtime.clock import ManualClock

pytestmark = pytest.mark.unit


def test_a_signed_token_names_its_principal_until_it_expires() -> None:
    clock = ManualClock()
    signer = AccessSigner(Ed25519PrivateKey.generate(), clock=clock)
    issued = signer.issue(Role.RESIDENT, "resident", "w-1", timedelta(minutes=15))
    principal = signer.verifier.verify(issued.token)
    assert principal is not None
    assert (principal.role, principal.subject, principal.token_id) == (
        Role.RESIDENT,
        "w-1",
        issued.token_id,
    )
    clock.advance(minutes=15)
    assert signer.verifier.verify(issued.token) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: t.replace("kgoa_", "kgoa_x", 1),
        lambda t: t.split(".")[0],
        lambda t: "kgoa_" + "." * 3,
        lambda t: t + "x" * 3000,
    ],
)
def test_a_tampered_or_malformed_token_is_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    signer = AccessSigner(Ed25519PrivateKey.generate())
    token = signer.issue(Role.MUNICIPAL_ADMIN, "a", None, timedelta(minutes=5)).token
    assert signer.verifier.verify(mangle(token)) is None


def test_another_key_does_not_verify() -> None:
    token = (
        AccessSigner(Ed25519PrivateKey.generate())
        .issue(Role.SERVICE, "s", None, timedelta(minutes=5))
        .token
    )
    assert AccessVerifier(Ed25519PrivateKey.generate().public_key()).verify(token) is None


def test_the_development_key_is_created_once_even_by_racing_processes(tmp_path: Path) -> None:
    settings = AccessSettings(home=tmp_path)
    with ThreadPoolExecutor(8) as pool:
        keys = list(pool.map(lambda _: public_key_text(public_key(settings)), range(16)))
    assert len(set(keys)) == 1
    assert (tmp_path / "secrets" / "access-signing.key").stat().st_mode & 0o777 == 0o600


def test_production_refuses_a_missing_or_short_key(tmp_path: Path) -> None:
    with pytest.raises(AccessKeyError):
        signing_key(AccessSettings(home=tmp_path, profile="production"))
    with pytest.raises(AccessKeyError, match="32 bytes"):
        signing_key(AccessSettings(home=tmp_path, access_signing_key="c2hvcnQ"))

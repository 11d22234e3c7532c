"""Tools the deployment tests need and the scripts install: Kustomize, built from its pinned
Go module into the KGO cache (once; about a minute), and the secret files docker-compose.yml
reads (random, written once, never committed)."""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kgo_cli.infra.errors import PrereqError
from kgo_runtime.settings import SERVICE_NAMES, InfraSettings

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
#: The newest release whose module graph builds with this machine's Go (1.26).
KUSTOMIZE_VERSION = "v5.8.1"
GO_HINT = "install Go 1.26 (the `golang` package is older) and put `go` on PATH"


def kustomize_path(settings: InfraSettings | None = None) -> Path:
    settings = settings or InfraSettings()
    return settings.cache_dir / "bin" / f"kustomize-{KUSTOMIZE_VERSION}"


def ensure_kustomize(settings: InfraSettings | None = None) -> Path:
    """The pinned kustomize binary, `go install`ed into the cache when missing."""
    target = kustomize_path(settings)
    if target.exists():
        return target
    go = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if go is None:
        raise PrereqError(f"Kustomize is built from its Go module and `go` is missing: {GO_HINT}.")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "GOTOOLCHAIN": "local"}
        built = subprocess.run(
            [go, "install", f"{KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if built.returncode != 0:
            last = (built.stderr.strip().splitlines() or ["?"])[-1]
            raise PrereqError(f"`go install {KUSTOMIZE_MODULE}@{KUSTOMIZE_VERSION}` failed: {last}")
        os.replace(Path(gobin) / "kustomize", target)
    return target


def compose_secret_values(folder: Path) -> dict[str, str]:
    """Every secret file docker-compose.yml names (file name: the variable the container's
    entrypoint exports it as), consistent with the files already in ``folder``: the database
    URLs carry the stored password, the public key is the stored signing key's."""
    password = _stored(folder, "POSTGRES_PASSWORD") or secrets.token_urlsafe(24)
    seed_text = _stored(folder, "KGO_ACCESS_SIGNING_KEY")
    seed = _unb64(seed_text) if seed_text else secrets.token_bytes(32)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    values = {
        "POSTGRES_PASSWORD": password,
        "KGO_ACCESS_SIGNING_KEY": _b64(seed),
        "KGO_ACCESS_PUBLIC_KEY": _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw)),
        "WALLET_PII_KEY": _b64(secrets.token_bytes(32)),
        "WALLET_BLIND_INDEX_KEY": _b64(secrets.token_bytes(32)),
        "WALLET_ACCESS_CODE_KEY": _b64(secrets.token_bytes(32)),
        "WALLET_DIGEST_SIGNING_KEY": _b64(secrets.token_bytes(32)),
        "TRANSIT_PASS_DIGEST_KEY": _b64(secrets.token_bytes(32)),
        "GRAFANA_ADMIN_PASSWORD": secrets.token_urlsafe(18),
    }
    for service in SERVICE_NAMES:
        values[f"{service.upper()}_DATABASE_URL"] = (
            f"postgresql://kgo:{password}@postgres:5432/kgo_{service}"
        )
    return values


def ensure_compose_secrets(folder: Path) -> list[str]:
    """Write the secret files that are missing (0600) and return their names; existing
    files are kept."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    written = []
    for name, value in compose_secret_values(folder).items():
        path = folder / name
        if path.exists():
            continue
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value + "\n")
        written.append(name)
    return written


def _stored(folder: Path, name: str) -> str | None:
    try:
        return (folder / name).read_text().strip() or None
    except FileNotFoundError:
        return None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

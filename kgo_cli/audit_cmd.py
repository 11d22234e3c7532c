"""`kgo audit`: the daily digests checked from Kafka alone.

`kgo audit verify` reads every record of the ledger topic and of the digests topic (all
partitions, from the beginning to the end offsets seen at the start; no consumer group),
recomputes each day's range, hash and totals with the reference algorithm
(``kgo_contracts.daily_digest``, documented in schemas/README.md), checks the chain and each
signature against the published keys, and exits 1 on any difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

import kgo_contracts
from kgo_contracts import topics
from kgo_contracts.daily_digest import (
    POSITION_HEADER,
    LedgerRecord,
    Verification,
    body_of,
    canonical_json,
    key_id,
    verify,
)
from kgo_runtime.access import AccessKeyError, AccessSettings
from kgo_runtime.kafka_admin import read_to_end
from kgo_runtime.settings import InfraSettings

app = typer.Typer(no_args_is_help=True)

#: Where the municipality's public digest keys are published, one ``<key_id>.pem`` each.
KEYS_DIR = Path(kgo_contracts.__file__).resolve().parents[1] / "keys"


@dataclass(frozen=True)
class RawRecord:
    partition: int
    offset: int
    key: str | None
    headers: dict[str, str]
    value: bytes | None


async def read_all(bootstrap: str, topic: str) -> list[RawRecord]:
    """Every record of ``topic`` up to the end offsets seen at the start."""
    out: list[RawRecord] = []
    async for r in read_to_end(bootstrap, topic):
        headers = {k: v.decode("utf-8", "replace") for k, v in r.headers if v}
        key = r.key.decode("utf-8", "replace") if r.key is not None else None
        out.append(RawRecord(r.partition, r.offset, key, headers, r.value))
    return out


def ledger_records(raw: list[RawRecord], problems: list[str]) -> list[LedgerRecord]:
    """The ledger records with their stored-log position; records without one (published
    before positions were) or unreadable are problems, reported once per kind."""
    records, bad = [], Counter[str]()
    first: dict[str, str] = {}
    for r in raw:
        try:
            position = int(r.headers[POSITION_HEADER])
            payload = json.loads(r.value or b"")
            records.append(LedgerRecord(position, r.headers["ce_type"], r.key or "", payload))
        except KeyError as missing:
            kind = f"no {missing.args[0]} header"
        except ValueError:
            kind = "an unreadable position or payload"
        else:
            continue
        bad[kind] += 1
        first.setdefault(kind, f"partition {r.partition} offset {r.offset}")
    for kind, count in bad.items():
        problems.append(f"{count} ledger records have {kind} (the first at {first[kind]})")
    return records


def digest_payloads(raw: list[RawRecord], problems: list[str]) -> list[dict[str, Any]]:
    payloads = []
    for r in raw:
        try:
            payloads.append(json.loads(r.value or b""))
        except ValueError as error:
            problems.append(f"digests partition {r.partition} offset {r.offset}: {error}")
    return payloads


def load_key(path: Path) -> Ed25519PublicKey:
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise typer.BadParameter(f"{path} is not an Ed25519 public key")
    return key


def raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def trusted_keys(files: list[Path], dev: bool) -> dict[str, Ed25519PublicKey]:
    """The keys whose signatures count, by key id: schemas/keys/*.pem, ``--key`` files and,
    outside production, this machine's development key."""
    keys = [load_key(p) for p in [*sorted(KEYS_DIR.glob("*.pem")), *files]]
    if dev:
        from services.wallet.adapters import digest_signing as signing

        configured = signing.DigestSettings().signing_key is not None
        if configured or (AccessSettings().home / "secrets" / signing.DEV_KEY_FILE).exists():
            with contextlib.suppress(AccessKeyError):
                keys.append(signing.signing_key().public_key())
    return {key_id(raw(k)): k for k in keys}


def signature_check(keys: Mapping[str, Ed25519PublicKey]) -> Any:
    def check(payload: Mapping[str, Any]) -> str | None:
        key = keys.get(str(payload.get("key_id")))
        if key is None:
            return f"signed with key {payload.get('key_id')}, which is not a published key"
        try:
            key.verify(
                bytes.fromhex(str(payload.get("signature"))), canonical_json(body_of(payload))
            )
        except (InvalidSignature, ValueError):
            return "the signature does not verify"
        return None

    return check


async def audit(
    bootstrap: str,
    ledger_topic: str,
    digests_topic: str,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    since: str | None = None,
    until: str | None = None,
) -> Verification:
    problems: list[str] = []
    ledger = ledger_records(await read_all(bootstrap, ledger_topic), problems)
    digests = digest_payloads(await read_all(bootstrap, digests_topic), problems)
    result = verify(digests, ledger, signature_check(keys), since=since, until=until)
    result.problems[:0] = problems
    return result


@app.command("verify")
def verify_command(
    since: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last day (YYYY-MM-DD).")] = None,
    ledger_topic: Annotated[str, typer.Option(help="The ledger topic.")] = topics.WALLET,
    digests_topic: Annotated[str, typer.Option(help="The digests topic.")] = topics.DIGESTS,
    key: Annotated[list[Path] | None, typer.Option(help="Also trust this PEM key.")] = None,
    bootstrap: Annotated[str | None, typer.Option(help="Kafka (default: KGO's).")] = None,
) -> None:
    """Recompute every daily digest and its totals from Kafka alone; check the chain and the
    signatures; exit 1 on any difference (a record changed, missing, added or reordered)."""
    dev = AccessSettings().profile != "production"
    keys = trusted_keys(list(key or []), dev)
    result = asyncio.run(
        audit(bootstrap or InfraSettings().kafka_bootstrap, ledger_topic, digests_topic, keys,
              since=since, until=until)
    )  # fmt: skip
    for problem in result.problems:
        typer.echo(f"DIFFERENCE {problem}")
    days = result.days_checked
    span = f"{days[0]} to {days[-1]}" if days else "no day"
    typer.echo(
        f"{result.digests} digests checked (chain, signatures), {len(days)} days recomputed "
        f"({span}) from {result.records} ledger records; {result.uncovered} records after the "
        "last closed day (the day still open)"
    )
    if not result.ok:
        typer.echo(f"FAILED: {len(result.problems)} differences", err=True)
        raise typer.Exit(1)
    typer.echo("every digest verifies" if result.digests else "no digest published yet")


@app.command("key")
def key_command(
    out: Annotated[
        Path | None, typer.Option(help="Write the PEM here (e.g. schemas/keys/).")
    ] = None,
) -> None:
    """The digest signing key's id and public key (PEM), from WALLET_DIGEST_SIGNING_KEY or,
    outside production, this machine's development key."""
    from services.wallet.adapters.digest_signing import DigestSigner, signing_key

    signer = DigestSigner(signing_key())
    typer.echo(f"key id {signer.key_id}")
    if out is not None:
        target = out / f"{signer.key_id}.pem" if out.is_dir() else out
        target.write_text(signer.public_pem())
        typer.echo(f"written {target}")
    else:
        typer.echo(signer.public_pem(), nl=False)

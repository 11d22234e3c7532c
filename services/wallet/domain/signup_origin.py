"""Where an app sign-up came from, as pseudonyms the integrity read model can count.

The wallet never publishes a client address or a device id. For each app sign-up it
publishes, on the resident's ``AccountOpened``, an HMAC of the client's network (IPv4 /24,
IPv6 /56: a phone's address changes within its carrier's block, and one network is what a
sign-up farm shares) and, when the app sent one, an HMAC of its device id. The HMAC key is
the key of the sign-up's Bangkok day, itself an HMAC of the wallet's secret and the date:
the same network or device gives the same value all day (what a burst is counted by) and an
unrelated one the next day, so origins link no resident across days.

Network and device are two values, not one: a client can send any device id, so a farm
rotating it would escape a rule keyed by (network, device); counted apart, the device catches
one phone opening many wallets across networks, and the network catches many "devices" on
one network.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from datetime import date, datetime

from kgo_contracts.base import BANGKOK

#: Prefix lengths of one network: an IPv4 /24, an IPv6 /56 (a household's or a cell's block).
IPV4_PREFIX = 24
IPV6_PREFIX = 56
#: Hex digits kept of each HMAC (128 bits).
ORIGIN_HEX = 32


@dataclass(frozen=True)
class SignupOrigin:
    network: str
    device: str | None = None


def network_of(client: str) -> str:
    """The network a client address belongs to (an IPv4-mapped IPv6 address as IPv4); what
    is not an address (a test client, ``unknown``) stands for itself."""
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return f"other:{client}"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def day_key(secret: bytes, day: date) -> bytes:
    """The origins' key of one Bangkok day (domain-separated from the secret's other uses)."""
    return hmac.new(secret, f"signup-origin\x1f{day.isoformat()}".encode(), hashlib.sha256).digest()


def _mac(key: bytes, kind: str, value: str) -> str:
    digest = hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256).hexdigest()
    return digest[:ORIGIN_HEX]


def signup_origin(secret: bytes, *, client: str, device: str | None, at: datetime) -> SignupOrigin:
    """The pseudonyms of a sign-up from ``client`` (and ``device``) at ``at``."""
    key = day_key(secret, at.astimezone(BANGKOK).date())
    return SignupOrigin(
        network=_mac(key, "network", network_of(client)),
        device=None if device is None else _mac(key, "device", device),
    )

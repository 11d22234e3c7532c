"""Where an app sign-up came from, as the wallet publishes it: keyed, pseudonymous, the same
for one network (or device) all through one Bangkok day, and different the next day."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.wallet.domain.signup_origin import network_of, signup_origin

pytestmark = pytest.mark.unit

BANGKOK = timezone(timedelta(hours=7))
SECRET = b"k" * 32
MORNING = datetime(2022, 6, 9, 8, 0, tzinfo=BANGKOK)


def origin(client: str, device: str | None = None, at: datetime = MORNING, secret: bytes = SECRET):
    return signup_origin(secret, client=client, device=device, at=at)


def test_networks_are_the_ipv4_24_and_the_ipv6_56():
    assert network_of("203.0.113.7") == "203.0.113.0/24"
    assert network_of("::ffff:203.0.113.7") == "203.0.113.0/24"
    assert network_of("2001:db8:abcd:12ff::1") == "2001:db8:abcd:1200::/56"
    assert network_of("testclient") == "other:testclient"


def test_an_origin_is_a_keyed_hash_that_names_neither_network_nor_device():
    o = origin("203.0.113.7", "device-1234")
    assert o.device is not None
    for value in (o.network, o.device):
        assert re.fullmatch(r"[0-9a-f]{32}", value)
        assert "203" not in value and "1234" not in value
    other_key = origin("203.0.113.7", "device-1234", secret=b"q" * 32)
    assert (other_key.network, other_key.device) != (o.network, o.device)
    assert other_key.network != o.network and other_key.device != o.device
    assert o.network != o.device  # network and device are hashed apart


def test_one_network_or_device_shares_an_origin_all_day_and_not_the_next():
    first = origin("203.0.113.7", "phone-a")
    evening = origin("203.0.113.200", "phone-a", at=MORNING.replace(hour=23, minute=59))
    assert (evening.network, evening.device) == (first.network, first.device)
    assert origin("203.0.114.7").network != first.network  # another /24
    assert origin("198.51.100.1", "phone-a").device == first.device  # the phone moved network
    assert origin("203.0.113.7", "phone-b").device != first.device
    assert origin("203.0.113.7").device is None
    tomorrow = origin("203.0.113.7", "phone-a", at=MORNING + timedelta(days=1))
    assert tomorrow.network != first.network and tomorrow.device != first.device


def test_the_day_is_bangkok_s():
    """16:59 UTC and 17:01 UTC are two Bangkok days (23:59 and 00:01)."""
    before = origin("203.0.113.7", at=datetime(2022, 6, 9, 16, 59, tzinfo=UTC))
    after = origin("203.0.113.7", at=datetime(2022, 6, 9, 17, 1, tzinfo=UTC))
    same_day = origin("203.0.113.7", at=datetime(2022, 6, 8, 17, 1, tzinfo=UTC))
    assert before.network != after.network
    assert before.network == same_day.network

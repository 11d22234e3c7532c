"""Who may call what: bearer tokens, roles, and the subject a token is bound to.

Every ``/v1`` route needs ``Authorization: Bearer <token>`` (401 ``unauthenticated``
otherwise); a role not in the route's column gets 403 ``forbidden``.

| Route                                      | admin | oper | audit | payee | resid | servc |
|--------------------------------------------|:-----:|:----:|:-----:|:-----:|:-----:|:-----:|
| POST /v1/treasury/genesis                  |   x   |      |       |       |       |       |
| GET  /v1/treasury/supply                   |   x   |      |   x   |       |       |       |
| POST /v1/budgets                           |   x   |      |       |       |       |       |
| GET  /v1/budgets, /v1/budgets/{programme}  |   x   | own¹ |   x   |       |       |       |
| POST /v1/budgets/{programme}/allocations   |   x   |      |       |       |       |       |
| POST /v1/budgets/{programme}/returns       |   x   |      |       |       |       |       |
| POST /v1/payees                            |   x   |      |       |       |       |   x   |
| POST /v1/residents                         |   x   |      |       |       |       |   x   |
| GET  /v1/wallets/{wallet_id}               |   x   |      |   x   | own²  | own³  |   x   |
| POST /v1/grants                            |       | own¹ |       |       |       |   x   |
| POST /v1/spends, /v1/holds ⁴               |       |      |       |       |       |   x   |
| POST /v1/wallets/{w}/holds/{h}/capture     |       |      |       |       |       |   x   |
| POST /v1/wallets/{w}/holds/{h}/release     |       |      |       |       |       |   x   |
| POST /v1/payment-codes, /v1/receive-codes  |       |      |       |       | own³  |       |
| POST /v1/receive-codes/resolve             |       |      |       |       |       |   x   |
| POST, DELETE /v1/transit-passes            |       |      |       |       | own³  |       |
| POST /v1/wallets/{wallet_id}/cards         |  x⁵   |      |       |       |       |       |
| POST /v1/tokens, DELETE /v1/tokens/{id}    |   x   |      |       |       |       |       |
| POST /v1/refunds, /v1/rewards              |       |      |       |       |       |   x   |
| POST /v1/settlements, /v1/shortfalls       |       |      |       |       |       |   x   |
| GET  /v1/tokens                            |   x   |      |   x   |       |       |       |

admin = ``municipal_admin``, oper = ``programme_operator``, audit = ``auditor``,
resid = ``resident``, servc = ``service`` (another city service).
¹ A programme operator's token may name a programme (its subject): it then grants only from
  that programme's budget and reads only that budget. Without a subject: every programme.
² A payee's subject is its shop or operator account id: it reads only itself. It takes no
  payment itself: its service (merchant, transit) does, with the resident's authorisation.
³ A resident's subject is its wallet id. Another wallet answers 403, decided before any lookup,
  so the answer says nothing about whether that wallet exists. Codes and passes are made for
  the token's own wallet.
⁴ Coins leave a resident's wallet only with the resident's ``authorisation`` (a payment
  code, a card and its PIN, or a transit pass), which names the wallet; payee tokens have no
  debit rights at all. The merchant and transit services call as ``service``.
⁵ And ``counter_staff`` (a municipal counter printing a card for a resident).

Residents' self-service and counter registration (``routes_signup``, ``routes_sessions``):

| Route                                        | Who                                     |
|----------------------------------------------|-----------------------------------------|
| POST /v1/residents/assisted                  | counter staff, admin                    |
| POST /v1/wallets/{w}/phone-links             | counter staff, admin, own³ resident     |
| POST /v1/signups, /v1/signups/{id}/confirm   | no token; rate-limited (phone, address) |
| POST /v1/sessions, /v1/sessions/{id}/confirm | no token; rate-limited (phone, address) |
| POST /v1/sessions/refresh                    | no token; a refresh token in the body   |
| POST /v1/phone-links/{id}/confirm            | no token; the code sent to the phone    |
| GET  /v1/me/data                             | own³ resident (an access request)       |
| GET  /v1/residents/{w}/data                  | admin                                   |
| POST /v1/residents/{w}/erasure               | admin                                   |

Residents get their access tokens at sign-in; an administrator may still mint one (POST
/v1/tokens, role ``resident``) for support.

The idempotency scope of a write (the command's ``caller``) is ``<role>:<subject or name>``,
so a rotated token of the same shop keeps its keys, and two shops can both use key "1".
"""

from __future__ import annotations

import re
from uuid import UUID

from kgo_runtime.access import ROLE_NAMES, Principal, Role, forbidden, unauthenticated

from ...adapters.tokens import ApiToken

__all__ = ["ROLE_NAMES", "Principal", "Role", "forbidden", "unauthenticated"]

_SLUG = re.compile(r"^[a-z0-9-]{2,40}$")


#: Roles whose tokens must name the account they act for.
SUBJECT_IS_ACCOUNT = (Role.PAYEE, Role.RESIDENT)


def check_subject(role: Role, subject: str | None) -> str | None:
    """The subject a token of ``role`` may carry, normalised; ValueError if it may not."""
    if role in SUBJECT_IS_ACCOUNT:
        if subject is None:
            raise ValueError(f"a {role} token needs its account id as subject")
        try:
            return str(UUID(subject))
        except ValueError:
            raise ValueError(f"a {role} token's subject is an account id (a UUID)") from None
    if role is Role.PROGRAMME_OPERATOR and subject is not None and not _SLUG.match(subject):
        raise ValueError("a programme operator's subject is a programme slug")
    return subject


def principal_of(token: ApiToken | None) -> Principal:
    """The principal a stored token stands for; 401 for no token or a role no longer known."""
    if token is None or token.role not in ROLE_NAMES:
        raise unauthenticated("the API token is unknown or revoked")
    return Principal(token.token_id, Role(token.role), token.name, token.subject)


# --- what a principal bound to a subject may touch -------------------------------------------


def require_programme(principal: Principal, programme: str) -> None:
    if principal.role is Role.PROGRAMME_OPERATOR and principal.subject not in (None, programme):
        raise forbidden(f"this token acts for programme {principal.subject!r} only")


def own_account(principal: Principal) -> UUID:
    """The account a resident's or payee's token acts for."""
    return _own_account(principal)


def require_reader_of(principal: Principal, account_id: UUID) -> None:
    if principal.role in SUBJECT_IS_ACCOUNT and _own_account(principal) != account_id:
        raise forbidden("this token may read its own account only")


def _own_account(principal: Principal) -> UUID:
    try:
        return UUID(str(principal.subject))
    except ValueError:
        raise forbidden("this token is not bound to an account") from None

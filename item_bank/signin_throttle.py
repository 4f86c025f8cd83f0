"""Slowing down password guessing without letting anyone lock a learner out.

A hard lock after N failures is a weapon: anyone who knows a colleague's e-mail address could keep
them out of their exam. So failed sign-ins are counted per key, and a key that failed too often
must wait before its next try, the wait doubling with each further failure up to a cap:

- per (account, client address) pair: 5 failures free, then 2 s, 4 s, 8 s, ... up to 15 minutes.
  This is what stops a guesser: from one address, one account gets a handful of guesses, then
  about four an hour. A correct password from the same pair is still refused while it waits, and
  clears the pair's count once it gets through.
- per client address, over all accounts: 50 failures free (an office shares one address), then
  1 s doubling up to 10 minutes: one address trying one password on many accounts.
- per account, over all addresses: not a lock but a ceiling. Past 100 failures in a day (an attack
  from many addresses) a pair of that account gets no free failures, so every address that fails
  starts waiting at once. An address that has not failed for the account never waits on the
  account's count: the learner signing in from their usual place gets in whatever a stranger does.

A key that has not failed for a while (a day; an hour for an address) starts again from zero.
IPv6 clients are counted per /64 (one customer's network: a guesser holds all of it), and an
IPv4-mapped IPv6 address as the IPv4 address it is. E-mail addresses are compared as stored
(trimmed, lower case). Keys are SHA-256 digests, so the table holds no address in clear.

The counts are rows of `signin_failures` in the database, so every worker process sees the same
ones. A waiting key is refused before the password is even checked (429, with Retry-After), and the
refusal is not counted. Requests of one key that are in flight at the same moment are each
checked against the count as it was: a burst gets through together, which the per-address request
limit (RATELIMIT_SIGNIN, api.limits) bounds. The keys are the e-mail text tried, whether or not it
has an account, so a wait says nothing about which addresses are registered.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import math
import random
from dataclasses import dataclass

from sqlalchemy import case, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from errors import Kind
from item_bank.accounts import AccountError, normalise_email
from storage import SigninFailure, as_utc, utcnow


@dataclass(frozen=True)
class Rule:
    free: int  # failures before the first wait
    first_wait: float  # seconds; doubles with each further failure
    max_wait: float  # seconds
    forget_after: dt.timedelta  # a key without a failure for this long starts again from zero

    def wait(self, failures: int, last_failure: dt.datetime, now: dt.datetime, free: int | None = None) -> float:
        """Seconds still to wait before this key may try again (0: it may)."""
        free = self.free if free is None else free
        if failures < free or now - last_failure > self.forget_after:
            return 0.0
        seconds = min(self.max_wait, self.first_wait * 2 ** min(failures - free, 40))
        return max(0.0, seconds - (now - last_failure).total_seconds())


PAIR = Rule(free=5, first_wait=2, max_wait=15 * 60, forget_after=dt.timedelta(days=1))
ADDRESS = Rule(free=50, first_wait=1, max_wait=10 * 60, forget_after=dt.timedelta(hours=1))
ACCOUNT_FORGET_AFTER = dt.timedelta(days=1)
ACCOUNT_CEILING = 100  # failures of one account from everywhere, past which its failing pairs wait at once
PRUNE_CHANCE = 0.01  # of a failure also deleting every row older than the longest forget_after


class Throttled(AccountError):
    kind = Kind.THROTTLED

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed sign-ins: wait {retry_after} seconds before trying again "
                         "(or ask your administrator for a sign-in link)")
        self.retry_after = retry_after


def address_key(address: str | None) -> str:
    """The client address as counted: IPv6 per /64, IPv4-mapped IPv6 as IPv4."""
    text = (address or "").strip()
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return text[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _account_key(email: str | None) -> str:
    try:
        return normalise_email(email or "")
    except AccountError:  # counted all the same (authenticate refuses it): as typed, trimmed, lower case
        return (email or "").strip().lower()[:320] if isinstance(email, str) else ""


def _digest(kind: str, *parts: str) -> str:
    return f"{kind}:" + hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class Attempt:
    """One sign-in attempt's keys, checked (`check`); report how it went with `failed` or `succeeded`."""

    pair: str
    address: str
    account: str
    pair_has_failed: bool = False

    def failed(self, db: Session) -> None:
        now = utcnow()
        for key, forget_after in ((self.pair, PAIR.forget_after), (self.address, ADDRESS.forget_after),
                                  (self.account, ACCOUNT_FORGET_AFTER)):
            _count_failure(db, key, now, forget_after)
        if random.random() < PRUNE_CHANCE:
            oldest = now - max(PAIR.forget_after, ADDRESS.forget_after, ACCOUNT_FORGET_AFTER)
            db.execute(delete(SigninFailure).where(SigninFailure.last_failure_at < oldest))

    def succeeded(self, db: Session) -> None:
        """The pair proved itself: its count goes. The address's and the account's stay (a guesser who
        owns one account must not clear the count of the address they guess from)."""
        if self.pair_has_failed:
            db.execute(delete(SigninFailure).where(SigninFailure.key == self.pair))


def check(db: Session, *, email: str | None, address: str | None) -> Attempt:
    """Raises Throttled if this account-and-address may not try yet; else the Attempt to report on."""
    account, client = _account_key(email), address_key(address)
    attempt = Attempt(pair=_digest("pair", account, client), address=_digest("addr", client),
                      account=_digest("acct", account))
    rows = {row.key: row for row in db.execute(select(SigninFailure).where(
        SigninFailure.key.in_((attempt.pair, attempt.address, attempt.account)))).scalars()}
    now = utcnow()
    pair, by_address, by_account = (rows.get(k) for k in (attempt.pair, attempt.address, attempt.account))
    attempt.pair_has_failed = pair is not None
    waits = [0.0]
    if pair is not None:
        under_attack = (by_account is not None and by_account.failures >= ACCOUNT_CEILING
                        and now - as_utc(by_account.last_failure_at) <= ACCOUNT_FORGET_AFTER)
        waits.append(PAIR.wait(pair.failures, as_utc(pair.last_failure_at), now, free=0 if under_attack else None))
    if by_address is not None:
        waits.append(ADDRESS.wait(by_address.failures, as_utc(by_address.last_failure_at), now))
    if max(waits) > 0:
        raise Throttled(max(1, math.ceil(max(waits))))
    return attempt


def _count_failure(db: Session, key: str, now: dt.datetime, forget_after: dt.timedelta) -> None:
    """One statement, so that failures counted by several workers at once all count."""
    table = SigninFailure.__table__
    insert = postgresql_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.execute(insert(table).values(key=key, failures=1, last_failure_at=now).on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"failures": case((table.c.last_failure_at < now - forget_after, 1), else_=table.c.failures + 1),
              "last_failure_at": now},
    ))

"""The bot's metrics, served in Prometheus' text format on ``GET /metrics`` (handlers/http/ops.py).

One ``Metrics`` object per Services, each with a registry of its own: prometheus_client's global registry
refuses a name registered twice, and the tests build many bots in one process.

No label ever names a person. Every label value is one of a fixed set written in this module (a value outside
it is counted as ``other``), so no user id, phone, IIN, code, application number or broadcast id can reach a
metrics store, which keeps data longer and is read by more people than the database.

Counts of decisions (an OTP sent, a consent given, an SMS settled) move only once the unit of work that made
them has committed (``on_commit``): a decision that was rolled back did not happen.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, cast

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest

# The *_created series (a timestamp per counter) are most of /metrics and of no use to an alert. (The function has
# no annotations: typed here, so that the strictly typed floors that import this module stay clean.)
cast(Callable[[], None], disable_created_metrics)()

__all__ = ["CONTENT_TYPE", "Metrics", "OutboxDepth", "api_method", "on_commit"]

OTHER = "other"

UPDATE_KINDS = frozenset({"message", "command", "button", "other"})
API_OUTCOMES = frozenset({"ok", "429", "403", "error"})
OUTBOXES = frozenset({"sms", "telegram"})
OUTBOX_STATES = ("queued", "sending")  # the rows still owed; settled rows are history, not depth
SMS_STATES = frozenset({"sent", "delivered", "failed", "suppressed"})
ENVELOPE_OUTCOMES = frozenset({"sent", "by_sms", "failed", "off", "retry"})
BROADCAST_OUTCOMES = frozenset({"sent", "blocked", "failed", "skipped", "not_sent", "unknown"})
CONSENT_WAYS = frozenset({"otp", "sms", "cabinet", "timeout"})
CONSENT_OUTCOMES = frozenset({"given", "declined", "failed", "expired"})
REFUSAL_GROUNDS = frozenset({"no_consent"})
REFUSAL_NOTES = frozenset({"no_phone", "declined", "expired", "wrong_code"})
OTP_PURPOSES = frozenset({"identify", "consent"})
OTP_REFUSALS = frozenset({"too_soon", "hourly_limit"})

# A Bot API method name: camelCase letters only. A token (digits and a colon) or a file path can never match.
_API_METHOD = re.compile(r"[a-z][A-Za-z]{1,63}")

# Seconds from an update's arrival to its replies delivered: a reply is one or a few Bot API round trips.
REPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


def _one_of(value: str, allowed: Iterable[str]) -> str:
    return value if value in allowed else OTHER


def api_method(url: str) -> str:
    """The Bot API method a request URL calls (``…/bot<token>/sendMessage`` → ``sendMessage``), or ``other``
    (a file download, anything unexpected): the token and file paths never become a label."""
    last = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last if _API_METHOD.fullmatch(last) else OTHER


def api_outcome(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    if status in (429, 403):
        return str(status)
    return "error"


@dataclass(frozen=True)
class OutboxDepth:
    """Rows an outbox still owes in one state, and how long the oldest of them that is due has waited."""
    outbox: str  # 'sms' | 'telegram'
    state: str   # 'queued' | 'sending'
    depth: int
    oldest_due_age_seconds: float  # 0 when none is due


class _Unit(Protocol):
    def after_commit(self, callback: Callable[[], object]) -> None: ...


class _Db(Protocol):
    def current_unit(self) -> _Unit | None: ...


def on_commit(db: _Db, count: Callable[[], object]) -> None:
    """Count once the current unit of work has committed (now, outside one)."""
    unit = db.current_unit()
    if unit is None:
        count()
    else:
        unit.after_commit(count)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter("qyzmet_telegram_updates", "Telegram updates handled, by kind", ["kind"],
                               registry=r)
        self.reply_seconds = Histogram(
            "qyzmet_telegram_reply_seconds", "From an update's arrival to its replies delivered", ["kind"],
            buckets=REPLY_BUCKETS, registry=r)
        self.api_calls = Counter("qyzmet_telegram_api_calls", "Bot API calls by method and outcome",
                                 ["method", "outcome"], registry=r)
        self.last_poll = Gauge("qyzmet_telegram_last_poll_timestamp_seconds",
                               "Unix time of the last successful getUpdates", registry=r)
        self.outbox_depth = Gauge("qyzmet_outbox_depth", "Rows an outbox still owes, by state",
                                  ["outbox", "state"], registry=r)
        self.outbox_oldest_due = Gauge(
            "qyzmet_outbox_oldest_due_age_seconds", "Age of the oldest row that is due, by state (0: none due)",
            ["outbox", "state"], registry=r)
        self.sms = Counter("qyzmet_sms", "SMS by the state they reached (sent, delivered, failed, suppressed)",
                           ["state"], registry=r)
        self.broadcast_messages = Counter("qyzmet_broadcast_messages", "Broadcast messages by outcome",
                                          ["outcome"], registry=r)
        self.telegram_envelopes = Counter(
            "qyzmet_telegram_envelopes", "Telegram outbox envelopes this process settled, by outcome (retry: back "
            "to the queue for later)", ["outcome"], registry=r)
        self.consents = Counter("qyzmet_consent_outcomes", "Consent decisions by way and outcome",
                                ["way", "outcome"], registry=r)
        self.refusals = Counter("qyzmet_refusals", "Applications refused, by ground and note", ["ground", "note"],
                                registry=r)
        self.otp_sent = Counter("qyzmet_otp_sent", "One-time codes issued, by purpose", ["purpose"], registry=r)
        self.otp_refused = Counter("qyzmet_otp_refused", "Codes not issued (resend pause, hourly limit)",
                                   ["purpose", "reason"], registry=r)
        self.otp_lockouts = Counter("qyzmet_otp_lockouts", "Codes locked after too many wrong tries",
                                    ["purpose"], registry=r)
        # Monotonic time of the last successful getUpdates, for readiness (bot/core/health.py).
        self.last_poll_ok: float | None = None
        # Every labelled series starts at 0, so a dashboard shows a flat line (and rate() works) rather than
        # no data until the first event.
        for kind in sorted(UPDATE_KINDS):
            self.updates.labels(kind)
        self.set_outboxes(())
        for state in sorted(SMS_STATES):
            self.sms.labels(state)
        for outcome in sorted(BROADCAST_OUTCOMES):
            self.broadcast_messages.labels(outcome)
        for outcome in sorted(ENVELOPE_OUTCOMES):
            self.telegram_envelopes.labels(outcome)
        for way in sorted(CONSENT_WAYS):
            for outcome in sorted(CONSENT_OUTCOMES):
                self.consents.labels(way, outcome)
        for ground in sorted(REFUSAL_GROUNDS):
            for note in sorted(REFUSAL_NOTES):
                self.refusals.labels(ground, note)
        for purpose in sorted(OTP_PURPOSES):
            self.otp_sent.labels(purpose)
            self.otp_lockouts.labels(purpose)
            for reason in sorted(OTP_REFUSALS):
                self.otp_refused.labels(purpose, reason)

    # Telegram ----------------------------------------------------------------------------------------------

    def update_answered(self, kind: str, seconds: float) -> None:
        kind = _one_of(kind, UPDATE_KINDS)
        self.updates.labels(kind).inc()
        self.reply_seconds.labels(kind).observe(seconds)

    def api_call(self, method: str, outcome: str) -> None:
        method = method if _API_METHOD.fullmatch(method) else OTHER
        outcome = _one_of(outcome, API_OUTCOMES)
        self.api_calls.labels(method, outcome).inc()
        if method == "getUpdates" and outcome == "ok":
            self.last_poll_ok = time.monotonic()
            self.last_poll.set_to_current_time()

    # Outboxes (refreshed at scrape time) -------------------------------------------------------------------

    def set_outboxes(self, depths: Iterable[OutboxDepth]) -> None:
        seen = set()
        for row in depths:
            if row.outbox in OUTBOXES and row.state in OUTBOX_STATES:
                self.outbox_depth.labels(row.outbox, row.state).set(row.depth)
                self.outbox_oldest_due.labels(row.outbox, row.state).set(max(row.oldest_due_age_seconds, 0.0))
                seen.add((row.outbox, row.state))
        for outbox in OUTBOXES:  # a state with no rows is not in the query's answer: it is empty
            for state in OUTBOX_STATES:
                if (outbox, state) not in seen:
                    self.outbox_depth.labels(outbox, state).set(0)
                    self.outbox_oldest_due.labels(outbox, state).set(0)

    # Core decisions ----------------------------------------------------------------------------------------

    def sms_reached(self, state: str) -> None:
        self.sms.labels(_one_of(state, SMS_STATES)).inc()

    def broadcast_message(self, outcome: str) -> None:
        self.broadcast_messages.labels(_one_of(outcome, BROADCAST_OUTCOMES)).inc()

    def telegram_envelope(self, outcome: str) -> None:
        self.telegram_envelopes.labels(_one_of(outcome, ENVELOPE_OUTCOMES)).inc()

    def consent(self, way: str, outcome: str) -> None:
        self.consents.labels(_one_of(way, CONSENT_WAYS), _one_of(outcome, CONSENT_OUTCOMES)).inc()

    def refusal(self, ground: str, note: str) -> None:
        self.refusals.labels(_one_of(ground, REFUSAL_GROUNDS), _one_of(note, REFUSAL_NOTES)).inc()

    def otp_issued(self, purpose: str) -> None:
        self.otp_sent.labels(_one_of(purpose, OTP_PURPOSES)).inc()

    def otp_not_issued(self, purpose: str, reason: str) -> None:
        self.otp_refused.labels(_one_of(purpose, OTP_PURPOSES), _one_of(reason, OTP_REFUSALS)).inc()

    def otp_locked(self, purpose: str) -> None:
        self.otp_lockouts.labels(_one_of(purpose, OTP_PURPOSES)).inc()

    # Exposition --------------------------------------------------------------------------------------------

    def render(self) -> bytes:
        return generate_latest(self.registry)

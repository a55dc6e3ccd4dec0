"""The entities the core works with. The store maps rows to them; handlers import them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Application:
    number: str
    service: str
    iin: str
    requester_iin: str | None
    requester_user_id: int | None
    channel: str
    submitted_at: datetime
    due_at: datetime
    status: str
    refusal_ground: str | None

    @property
    def third_party(self) -> bool:
        return self.requester_iin is not None and self.requester_iin != self.iin


@dataclass(frozen=True)
class Event:
    """One stage of an application's history. ``note`` is a code (``consent:otp``, ``expired``…) or a
    provider's free text; people see it through the channel's localized rendering, never raw."""
    status: str
    at: datetime
    note: str | None


@dataclass(frozen=True)
class Consent:
    number: str
    requester_iin: str
    subject_iin: str
    subject_phone: str
    service: str
    status: str
    created_at: datetime
    expires_at: datetime


@dataclass
class ChatState:
    state: str
    data: dict[str, Any] = field(default_factory=dict)  # a JSON object, kept as the conversation step left it


@dataclass(frozen=True)
class Identity:
    user_id: int
    iin: str
    phone: str
    verified_at: datetime
    last_seen_at: datetime


@dataclass(frozen=True)
class UserSnapshot:
    """Everything a Telegram update needs to know about its sender, read in one query."""
    lang: str | None
    state: ChatState
    identity: Identity | None  # as stored: whether it still holds is IdentityService's rule
    blocked: bool = False      # Telegram said 403 earlier (users.blocked_at)
    role: str | None = None    # staff role (operator / admin), None for citizens
    update_handled: bool = False  # the update being answered was handled already (it came again)


@dataclass(frozen=True)
class Citizen:
    iin: str
    full_name: str
    birth_date: str  # ISO date
    address: str
    phone: str | None  # E.164 registered mobile number


@dataclass(frozen=True)
class RegistryRecord:
    iin: str
    register: str
    observed: bool
    source_system: str


@dataclass(frozen=True)
class Complaint:
    number: str
    user_id: int
    iin: str
    full_name: str
    address: str
    phone: str | None
    addressee: str
    app_number: str | None
    provider_name: str | None
    body: str
    file_id: str | None
    file_kind: str | None
    state: str
    filed_at: datetime
    registered_at: datetime | None
    forward_due_at: datetime | None
    due_at: datetime
    answer: str | None
    updated_at: datetime
    incoming_number: str | None = None  # the addressee's own registration number, when its system sent it


@dataclass(frozen=True)
class ComplaintEvent:
    state: str
    at: datetime
    actor: str

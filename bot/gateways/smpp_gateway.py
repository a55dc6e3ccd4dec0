"""The outbound SMS gateway over SMPP 3.4 (``QYZMET_SMS_GATEWAY=smpp``), with delivery receipts and inbound
messages coming back on the same connection.

The library is ``smpp34`` (a Rust core behind an asyncio API; README "SMPP" says why this one): it frames PDUs,
answers ``enquire_link`` and sends its own every 30 s, and hands us each ``submit_sm_resp`` as the result of
the call that sent it. Around it, this module keeps one long-lived ``bind_transceiver`` per process: one owner
task binds, reads every inbound ``deliver_sm`` in order, and on a lost connection binds again after a growing
pause (bot/domain/retry.py). ``send`` is the same call-and-return as the HTTP gateway's (the outbox worker in
bot/core/sms_sending.py decides retries), so the outbox's rules hold unchanged:

- a text goes as UCS-2, one submit per part (bot/gateways/smpp_codec.py); it is accepted when every part is,
  and the SMSC's ids of its parts are recorded (``SmppSinks.parts``) before ``send`` returns, so a receipt that
  comes back at once still finds its message;
- ESME_RTHROTTLED / ESME_RMSGQFUL on the first part, a lost connection, no bind or no answer in time are
  ``TemporarySmsError``: the message goes back to the queue with the outbox's backoff. A throttled later part
  is tried again here, within the same time limit, so that the parts already accepted are not sent twice;
- what SMPP cannot promise: a submit has no idempotency key. If the connection drops after the SMSC took a
  part but before its ``submit_sm_resp`` reached us, the message is sent again later (as the outbox does for
  every gateway) and that phone may get it twice. Nothing is lost either way.

Inbound: a ``deliver_sm`` that is a delivery receipt (``esm_class`` type 0x04) goes to ``SmppSinks.receipt``;
any other is a message from a phone (parts joined first) and goes to ``SmppSinks.inbound``, the same use case
as ``POST /sms/inbound``. The library acknowledges a ``deliver_sm`` as soon as it has queued it for us: a process
killed before acting on it loses that one receipt or message (SMPP 3.4 carries no id for a message from a
phone, so a repeat could not be recognised either). The password is given to the library only, never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import smpp34

from bot.config import Settings
from bot.domain.phone import InvalidPhone, mask_phone, normalize_phone
from bot.domain.retry import backoff
from bot.gateways.smpp_codec import (
    ESM_DELIVERY_RECEIPT,
    ESM_TYPE_MASK,
    TLV_MESSAGE_PAYLOAD,
    TLV_SAR_MSG_REF_NUM,
    TLV_SAR_SEGMENT_SEQNUM,
    TLV_SAR_TOTAL_SEGMENTS,
    UCS2,
    Concatenation,
    decode_text,
    parse_receipt,
    split_udh,
    ucs2_parts,
)
from bot.gateways.sms_gateway import PermanentSmsError, TemporarySmsError

log = logging.getLogger(__name__)

ESME_ROK = 0x00
# Worth trying again later: the SMSC is busy, has a fault of its own, or the bind is not in a state to send.
_TEMPORARY = {0x08: "ESME_RSYSERR", 0x14: "ESME_RMSGQFUL", 0x58: "ESME_RTHROTTLED", 0x64: "ESME_RX_T_APPN",
              0x04: "ESME_RINVBNDSTS", 0x0D: "ESME_RBINDFAIL", 0xFF: "ESME_RUNKNOWNERR"}
_THROTTLED = {0x14, 0x58}
_NAMES = {0x01: "ESME_RINVMSGLEN", 0x0A: "ESME_RINVSRCADR", 0x0B: "ESME_RINVDSTADR", 0x45: "ESME_RSUBMITFAIL",
          0x48: "ESME_RINVSRCTON", 0x50: "ESME_RINVDSTTON", 0x61: "ESME_RINVSCHED", 0x62: "ESME_RINVEXPIRY",
          0x66: "ESME_RX_R_APPN", **_TEMPORARY}

# What the core says of a receipt. "early": the message's sender has not recorded the acceptance yet;
# "unknown": no part has that id yet (its sender, here or on another bind, may be recording it). Both are tried
# again for a while, then dropped.
ReceiptOutcome = str
LATER = frozenset({"early", "unknown"})


@dataclass(frozen=True)
class SmppSinks:
    """Where what the SMSC says goes (wired by bot/app/runner.py to the core's use cases)."""
    parts: Callable[[str, list[str]], Awaitable[None]]                      # our id, the SMSC's ids of its parts
    receipt: Callable[[str, str, str | None], Awaitable[ReceiptOutcome]]   # SMSC id, delivered | failed, reason
    inbound: Callable[[str, str], Awaitable[object]]                        # phone (E.164), text


def address_of(source: str) -> tuple[str, int, int]:
    """The sender as SMPP writes it (address, TON, NPI): an alphanumeric name (TON 5), an international number
    (``+7…`` or 11+ digits: TON 1, NPI 1 E.164), or a short code (TON 3)."""
    digits = source.lstrip("+")
    if not digits.isdigit():
        return source, 5, 0
    if source.startswith("+") or len(digits) >= 11:
        return digits, 1, 1
    return digits, 3, 0


def smpp_gateway(settings: Settings) -> SmppSmsGateway:
    """The gateway QYZMET_SMS_GATEWAY=smpp and the QYZMET_SMPP_* settings describe."""
    assert settings.smpp_host and settings.smpp_system_id and settings.smpp_password and settings.smpp_source
    return SmppSmsGateway(settings.smpp_host, settings.smpp_port, settings.smpp_system_id, settings.smpp_password,
                          settings.smpp_source, system_type=settings.smpp_system_type,
                          timeout=settings.sms_gateway_timeout_seconds,
                          reconnect_base=settings.smpp_reconnect_base_seconds,
                          reconnect_max=settings.smpp_reconnect_max_seconds)


@dataclass
class _Pending:
    """The parts of a message from a phone that came so far."""
    total: int
    since: float
    parts: dict[int, str] = field(default_factory=dict)


class SmppSmsGateway:
    # The parts of a long message from a phone wait this long for the rest; at most this many such messages.
    PARTS_WAIT_SECONDS = 600.0
    MAX_PENDING = 1000
    # A receipt that came before its sender recorded the acceptance is tried again for this long; at most this
    # many wait at once.
    EARLY_RECEIPT_SECONDS = 60.0
    MAX_WAITING_RECEIPTS = 10000

    def __init__(self, host: str, port: int, system_id: str, password: str, source: str, *,
                 system_type: str = "", timeout: float = 10.0, reconnect_base: float = 1.0,
                 reconnect_max: float = 60.0) -> None:
        self._host, self._port = host, port
        self._system_id, self._password, self._system_type = system_id, password, system_type
        self._source, self._source_ton, self._source_npi = address_of(source)
        self._timeout = timeout
        self._reconnect = (reconnect_base, reconnect_max)
        self._sinks: SmppSinks | None = None
        self._smsc: smpp34.Smsc | None = None
        self._bound = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._references = itertools.count(random.randrange(256))
        self._pending: dict[tuple[str, int, int], _Pending] = {}
        self._later: set[asyncio.Task[None]] = set()
        self.binds = 0  # how many times this process bound (the first, then each reconnect)

    # The connection ---------------------------------------------------------------------------------------

    def start(self, sinks: SmppSinks) -> None:
        """Bind and keep bound, in the background, until ``close``."""
        if self._task is None:
            self._sinks = sinks
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="smpp-connection")

    @property
    def bound(self) -> bool:
        return self._bound.is_set()

    async def wait_bound(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._bound.wait(), timeout)
        return self.bound

    async def close(self) -> None:
        """Unbind (politely: the SMSC then sends nothing more to this bind) and stop."""
        self._stopping = True
        smsc = self._smsc
        if smsc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smsc.unbind(), 2.0)
        for task in [self._task, *self._later]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._task = None
        self._later.clear()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            client = smpp34.Client(self._host, self._port, self._system_id, self._password, bind_type="TRX",
                                   system_type=self._system_type, connect_timeout_ms=int(self._timeout * 1000))
            try:
                smsc = await client.connect()
            except Exception as exc:  # refused, timed out, or the library's surprise: never stop binding
                failures += 1
                delay = backoff(failures, *self._reconnect)
                log.warning("SMPP bind to %s:%d failed (%s); trying again in %.1fs", self._host, self._port,
                            exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            self.binds += 1
            self._smsc = smsc
            self._bound.set()
            log.info("SMPP bound to %s:%d as a transceiver (system id %s)", self._host, self._port, self._system_id)
            try:
                await self._read(smsc)
            except Exception:
                log.exception("SMPP connection failed")
            finally:
                self._bound.clear()
                self._smsc = None
                with contextlib.suppress(Exception):
                    await client.stop()
            if not self._stopping:
                failures = 1
                delay = backoff(failures, *self._reconnect)
                log.warning("SMPP connection to %s:%d lost; binding again in %.1fs", self._host, self._port, delay)
                await asyncio.sleep(delay)

    async def _read(self, smsc: smpp34.Smsc) -> None:
        """The owner of the connection's inbound side: every deliver_sm, in the order the SMSC sent them."""
        while True:
            event = await smsc.next()
            if isinstance(event, smpp34.Disconnected):
                return
            try:
                await self._deliver(event)
            except Exception:  # one bad message must not take the connection down
                log.exception("SMPP deliver_sm could not be handled")

    # Sending ----------------------------------------------------------------------------------------------

    async def send(self, message_id: str, to: str, text: str) -> str | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        smsc = self._smsc
        if smsc is None and await self.wait_bound(min(self._timeout, 1.0)):
            smsc = self._smsc
        if smsc is None:
            raise TemporarySmsError("SMPP not bound")
        parts = ucs2_parts(text, next(self._references) % 256)
        ids: list[str] = []
        for part in parts:
            throttled = 0
            while True:
                resp = await self._submit(smsc, to, part.esm_class, part.short_message, deadline - loop.time())
                status = resp.command_status
                if status == ESME_ROK and resp.message_id:
                    ids.append(resp.message_id)
                    break
                name = _NAMES.get(status, f"command_status 0x{status:08X}")
                if status in _THROTTLED and ids:  # parts already went: wait here rather than send them again
                    throttled += 1
                    pause = backoff(throttled, 0.2, 2.0)
                    if loop.time() + pause < deadline:
                        await asyncio.sleep(pause)
                        continue
                if status in _TEMPORARY:
                    raise TemporarySmsError(f"SMPP {name}")
                raise PermanentSmsError(f"SMPP {name}")
        if self._sinks is not None:
            try:
                await self._sinks.parts(message_id, ids)
            except Exception:  # the SMSC took it: report it sent all the same (its receipts will be unknown)
                log.exception("SMS %s: the SMSC's ids of its parts could not be recorded", message_id)
        return " ".join(ids)

    async def _submit(self, smsc: smpp34.Smsc, to: str, esm_class: int, short_message: bytes,
                      remaining: float) -> smpp34.SubmitSmResp:
        if remaining <= 0:
            raise TemporarySmsError("SMPP: no submit_sm_resp in time")
        try:
            return await asyncio.wait_for(smsc.submit_sm(
                to.lstrip("+"), short_message, source_addr=self._source, source_addr_ton=self._source_ton,
                source_addr_npi=self._source_npi, dest_addr_ton=1, dest_addr_npi=1, esm_class=esm_class,
                data_coding=UCS2, registered_delivery=1), remaining)
        except TimeoutError:
            raise TemporarySmsError("SMPP: no submit_sm_resp in time") from None
        except smpp34.SmppError:  # the library's word for a connection that went away under the submit
            raise TemporarySmsError("SMPP connection lost") from None

    # Inbound ----------------------------------------------------------------------------------------------

    async def _deliver(self, event: smpp34.DeliverSmEvent) -> None:
        assert self._sinks is not None
        tlvs = {tlv.tag: tlv.value for tlv in event.tlvs}
        message_type = event.esm_class & ESM_TYPE_MASK
        if message_type == ESM_DELIVERY_RECEIPT:
            receipt = parse_receipt(event.short_message, tlvs)
            if receipt is not None:
                await self._apply_receipt(receipt.gateway_id, receipt.status, receipt.reason, first=True)
            return
        if message_type != 0:  # an intermediate notification or an acknowledgement: nothing to act on
            return
        try:
            phone = normalize_phone(event.source_addr)
        except InvalidPhone as exc:
            log.warning("SMPP message from a number that is not a Kazakh mobile (%s): ignored", exc.reason)
            return
        text = self._whole_text(phone, event, tlvs)
        if text is not None:
            log.info("SMPP message from %s", mask_phone(phone))
            await self._sinks.inbound(phone, text)

    def _whole_text(self, phone: str, event: smpp34.DeliverSmEvent, tlvs: dict[int, bytes]) -> str | None:
        """The message's text once all its parts came (None until then)."""
        concat, body = split_udh(event.esm_class, tlvs.get(TLV_MESSAGE_PAYLOAD) or event.short_message)
        if concat is None and TLV_SAR_MSG_REF_NUM in tlvs:
            concat = Concatenation(int.from_bytes(tlvs[TLV_SAR_MSG_REF_NUM], "big"),
                                   tlvs.get(TLV_SAR_TOTAL_SEGMENTS, b"\1")[0],
                                   tlvs.get(TLV_SAR_SEGMENT_SEQNUM, b"\1")[0])
        text = decode_text(event.data_coding, body)
        if concat is None or concat.total <= 1:
            return text
        now = time.monotonic()
        for key in [k for k, p in self._pending.items() if now - p.since > self.PARTS_WAIT_SECONDS]:
            del self._pending[key]
        key = (phone, concat.reference, concat.total)
        pending = self._pending.get(key)
        if pending is None:
            if len(self._pending) >= self.MAX_PENDING:
                self._pending.pop(next(iter(self._pending)))
            pending = self._pending[key] = _Pending(concat.total, now)
        pending.parts[concat.number] = text
        if len(pending.parts) < pending.total:
            return None
        del self._pending[key]
        return "".join(pending.parts[n] for n in sorted(pending.parts))

    async def _apply_receipt(self, gateway_id: str, status: str, reason: str | None, first: bool) -> None:
        assert self._sinks is not None
        outcome = await self._sinks.receipt(gateway_id, status, reason)
        if outcome in LATER and first and len(self._later) < self.MAX_WAITING_RECEIPTS:
            # Its sender is between the SMSC's answer and recording it (a receipt may overtake the answer to the
            # message's last part): apply it once it has, without holding up what comes after it.
            task = asyncio.create_task(self._receipt_later(gateway_id, status, reason))
            self._later.add(task)
            task.add_done_callback(self._later.discard)

    async def _receipt_later(self, gateway_id: str, status: str, reason: str | None) -> None:
        assert self._sinks is not None
        deadline = time.monotonic() + self.EARLY_RECEIPT_SECONDS
        tries = 0
        while time.monotonic() < deadline:
            tries += 1
            await asyncio.sleep(backoff(tries, 0.05, 2.0))
            try:
                outcome = await self._sinks.receipt(gateway_id, status, reason)
            except Exception:
                log.exception("SMPP receipt could not be applied")
                return
            if outcome not in LATER:
                return
        log.warning("SMPP receipt for an id this bot never recorded as sent: dropped")

"""Logs never show an IIN, a phone or a code in clear."""

from __future__ import annotations

import logging

from bot.logging_setup import MaskingFilter, mask_text


def test_mask_text_hides_iin_phone_and_code():
    line = mask_text("iin 900715300451 phone +77051112233 / 77051112233 code 482913 number QZ-261125-0482913")
    for secret in ("900715300451", "77051112233", "482913 "):
        assert secret not in line
    assert "0451" in line and "QZ-261125-0482913" in line


def test_filter_masks_arguments(caplog):
    logger = logging.getLogger("qyzmet.test")
    handler = caplog.handler
    masking = MaskingFilter()
    handler.addFilter(masking)
    try:
        with caplog.at_level(logging.INFO):
            logger.info("sent %s to %s", "482913", "+77011234567")
    finally:
        handler.removeFilter(masking)
    assert "482913" not in caplog.text and "+77011234567" not in caplog.text


def test_formatter_masks_tracebacks_too():
    from bot.logging_setup import MaskingFormatter
    try:
        raise ValueError("bad iin 900715300451")
    except ValueError:
        import sys
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert "900715300451" not in MaskingFormatter().format(record)


def test_times_keep_their_microseconds_while_codes_are_masked():
    line = mask_text("23:00:47.123456 at 2026-11-20T10:15:00.654321+05:00 took 0.482913 s; code 482913, "
                     "code: 482913. iin 900715300451")
    assert "23:00:47.123456" in line and "10:15:00.654321+05:00" in line and "0.482913" in line
    assert "482913," not in line and "482913." not in line and "900715300451" not in line


def test_the_token_and_other_secrets_are_replaced():
    from bot.logging_setup import register_secrets
    register_secrets(["5550001:configured-token-value", "feed-secret-value"])
    line = mask_text("POST https://api.telegram.org/bot5550001:configured-token-value/getMe; "
                     "token 7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0; bearer feed-secret-value")
    assert "configured-token-value" not in line and "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0" not in line
    assert "feed-secret-value" not in line and line.count("***") == 3


def _emit(fmt: str, capsys, *, exc: bool = False) -> str:
    import sys

    from bot.logging_setup import setup_logging
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging(fmt=fmt, secrets=["123456:json-test-token-value"])
        root.handlers[0].setStream(sys.stderr)  # capsys' stderr
        log = logging.getLogger("qyzmet.test")
        if exc:
            try:
                raise ValueError("bad iin 900715300451 with 123456:json-test-token-value")
            except ValueError:
                log.exception("failed for %s", "+77011234567")
        else:
            log.info("code %s sent to %s", "482913", "+77011234567")
        logging.getLogger("apscheduler.scheduler").info("Running job every 5 seconds")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return capsys.readouterr().err


def test_json_format_is_one_masked_object_per_line(capsys):
    import json
    lines = _emit("json", capsys).strip().splitlines()
    assert len(lines) == 1  # the scheduler's INFO line is quiet
    entry = json.loads(lines[0])
    assert set(entry) == {"time", "level", "logger", "message"}
    assert entry["level"] == "INFO" and entry["logger"] == "qyzmet.test"
    assert "482913" not in entry["message"] and "+77011234567" not in entry["message"]
    assert entry["time"].endswith("+00:00")


def test_json_format_carries_the_exception_masked(capsys):
    import json
    entry = json.loads(_emit("json", capsys, exc=True).strip().splitlines()[0])
    assert entry["level"] == "ERROR" and "ValueError" in entry["exception"]
    text = json.dumps(entry)
    assert "900715300451" not in text and "json-test-token-value" not in text and "+77011234567" not in text


def test_text_format_stays_the_default(capsys):
    out = _emit("text", capsys)
    assert out.count("\n") == 1 and " INFO qyzmet.test: code ****** sent to +7*******67" in out


async def test_a_broadcasts_progress_keeps_its_counts_through_the_masking(caplog):
    """Six-digit counts (half a million recipients) are grouped, so the masking leaves the figures an operator
    wants in place."""
    from datetime import UTC, datetime

    from bot.core.broadcast import LogReporter, Progress
    from store.broadcasts import Broadcast
    broadcast = Broadcast(7, "cli", datetime.now(UTC), "kk", "ru", "all", "sending", 1_000_000, None, None, None)
    handler = caplog.handler
    masking = MaskingFilter()
    handler.addFilter(masking)
    try:
        with caplog.at_level(logging.INFO):
            await LogReporter().started(broadcast)
            await LogReporter().progress(Progress(broadcast, {"queued": 500_000, "sending": 8, "sent": 499_992},
                                                  812.5, False))
    finally:
        handler.removeFilter(masking)
    assert "broadcast 7: sending to 1,000,000 recipients" in caplog.text
    assert "broadcast 7: queued 500,000, sending 8, sent 499,992, 812.5 msg/s" in caplog.text
    assert "***" not in caplog.text

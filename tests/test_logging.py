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

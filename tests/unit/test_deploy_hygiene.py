"""What a deployer met first (shared/reviews/deploy-2026-12.md): a password with "/" printed in clear (D2), a
world-readable database (D9), fontTools' lines in the log (D7), the server's versions and the *_created series on
every response (D23)."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from bot.app.startup import _reason, database_label
from bot.config import url_password, url_without_password
from bot.logging_setup import setup_logging
from store.sqlite_engine import create_private


@pytest.mark.parametrize(("url", "password"), [
    ("postgresql://qyzmet:Ab3/xY+z9Q==@127.0.0.1:5432/qyzmet", "Ab3/xY+z9Q=="),
    ("postgresql://qyzmet:p@ss:w/rd@db.example.kz/qyzmet", "p@ss:w/rd"),
    ("postgresql://qyzmet:plain@db/qyzmet", "plain"),
    ("postgresql://qyzmet@db/qyzmet", None),
    ("redis://:s3/cret@redis:6379/0", "s3/cret"),
])
def test_a_password_is_found_whole_and_never_shown(url, password):
    assert url_password(url) == password
    label = database_label(url) if url.startswith("postgresql") else url_without_password(url)
    if password:
        assert password not in label and "***" in label
        reason = _reason(url, ValueError(f"invalid literal for int() with base 10: '{password.split('/')[0]}'"))
        assert password not in reason and password.split("/")[0] not in reason


def test_a_new_database_file_is_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "new.sqlite3"
    create_private(path)
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o600)
    existing = tmp_path / "existing.sqlite3"
    existing.touch(mode=0o640)
    os.chmod(existing, 0o640)
    create_private(existing)  # the owner's own choice stands
    assert oct(os.stat(existing).st_mode & 0o777) == oct(0o640)


def test_font_subsetting_does_not_fill_the_log():
    setup_logging(logging.INFO)
    assert not logging.getLogger("fontTools.subset").isEnabledFor(logging.INFO)
    assert logging.getLogger("bot").isEnabledFor(logging.INFO)

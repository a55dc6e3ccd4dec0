"""The SQL the repositories write (``?`` placeholders) as PostgreSQL reads it (store/postgres_engine.py)."""

from __future__ import annotations

import pytest

from store.postgres_engine import numbered


@pytest.mark.parametrize("sql, expected", [
    ("SELECT 1", "SELECT 1"),
    ("SELECT x FROM t WHERE a = ? AND b = ?", "SELECT x FROM t WHERE a = $1 AND b = $2"),
    ("INSERT INTO t VALUES (?, ?, ?)", "INSERT INTO t VALUES ($1, $2, $3)"),
    # Inside quoted strings and identifiers a question mark is text, not a parameter.
    ("SELECT '?' , x FROM t WHERE y = ?", "SELECT '?' , x FROM t WHERE y = $1"),
    ("SELECT \"odd?name\" FROM t WHERE y = ? AND z LIKE '%?%'",
     "SELECT \"odd?name\" FROM t WHERE y = $1 AND z LIKE '%?%'"),
    # A doubled quote inside a string is still inside it.
    ("SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"),
    ("UPDATE t SET a = ? WHERE b = '?' AND c = ? RETURNING 1",
     "UPDATE t SET a = $1 WHERE b = '?' AND c = $2 RETURNING 1"),
    ("SELECT CAST(? AS BIGINT)", "SELECT CAST($1 AS BIGINT)"),
])
def test_question_marks_are_numbered_outside_quotes(sql, expected):
    assert numbered(sql) == expected


def test_ten_and_more_parameters():
    assert numbered(", ".join("?" * 12)) == ", ".join(f"${n}" for n in range(1, 13))

"""A PostgreSQL database of its own for a benchmark, on a server given by an admin URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg


async def fresh_database(admin_url: str, name: str) -> str:
    """Create the database ``name`` anew (dropped first if a previous run left it); returns its URL."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))

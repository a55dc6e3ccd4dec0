"""A decision is counted once its unit of work has committed, and not at all when it is rolled back
(bot/metrics.py on_commit), through the real use cases on a real database (the suite's engine)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.core import otp
from bot.services import Services


def count(services: Services, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(services.metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


@pytest.fixture
async def services(database):
    opened = await Services.open(Settings(database=database, secret_key="k", _env_file=None))
    yield opened
    await opened.close()


class Boom(Exception):
    pass


async def test_a_code_is_counted_only_when_its_unit_commits(services):
    with pytest.raises(Boom):
        async with services.db.unit("test/rolled_back"):
            assert isinstance(await services.otps.issue("identify", "u:1", "+77011234567"), otp.Issued)
            raise Boom
    assert count(services, "qyzmet_otp_sent_total", purpose="identify") == 0
    async with services.db.unit("test/committed"):
        await services.otps.issue("identify", "u:2", "+77011234567")
        assert count(services, "qyzmet_otp_sent_total", purpose="identify") == 0  # not before the commit
    assert count(services, "qyzmet_otp_sent_total", purpose="identify") == 1


async def test_a_lockout_is_counted_once_when_the_last_wrong_try_is_recorded(services):
    issued = await services.otps.issue("consent", "QZ-1", "+77011234567")
    assert isinstance(issued, otp.Issued)
    wrong = "000000" if issued.code != "000000" else "111111"
    for _ in range(services.settings.otp_max_attempts - 1):
        assert isinstance(await services.otps.verify("consent", "QZ-1", wrong), otp.WrongCode)
    assert count(services, "qyzmet_otp_lockouts_total", purpose="consent") == 0
    assert await services.otps.verify("consent", "QZ-1", wrong) == otp.NoValidCode("locked")  # the last try
    assert await services.otps.verify("consent", "QZ-1", issued.code) == otp.NoValidCode("locked")  # still
    assert count(services, "qyzmet_otp_lockouts_total", purpose="consent") == 1


async def test_too_soon_is_counted_even_when_nothing_commits(services):
    await services.otps.issue("identify", "u:3", "+77011234567")
    assert isinstance(await services.otps.issue("identify", "u:3", "+77011234567"), otp.TooSoon)
    assert count(services, "qyzmet_otp_refused_total", purpose="identify", reason="too_soon") == 1

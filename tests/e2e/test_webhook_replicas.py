"""Two web replicas over one database behind one URL (a round-robin proxy, as a load balancer would be), and two
workers beside them (tests/cluster.py): a citizen's flow alternates between the replicas and stays in order.

With ``QYZMET_TEST_REDIS`` the replicas share the person's lock and the ledger of answered updates in Redis
(bot/gateways/person_lock.py, update_ledger.py); without it each keeps its own, as a single replica would.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import pytest

from tests.cluster import Cluster, running_cluster
from tests.harness import Chat
from tests.webhook_harness import own_tb_flow


@pytest.fixture
async def cluster(emu, database) -> AsyncIterator[Cluster]:
    """Two web replicas behind one URL and two workers, over one database."""
    async with running_cluster(emu, database) as running:
        yield running


async def test_a_citizens_flow_alternating_between_two_replicas_stays_in_order(cluster, emu):
    first = cluster.web[0]
    assert emu.webhook_url == cluster.proxy.url
    chat = Chat(first, 4001, "ru")
    await own_tb_flow(chat)
    assert {replica for _, replica in cluster.proxy.served} == {0, 1}  # both took part

    # Written all at once: the chat's queue at Telegram sends them one by one, to alternating replicas.
    texts = first.services.texts  # type: ignore[union-attr]
    commands = ["/help", "/status", "/menu", "/help", "/status", "/menu"]
    await emu.webhook_idle()  # the last answer of the flow has reached the proxy too
    served = len(cluster.proxy.served)
    for command in commands:
        await emu.send_text(4001, command)
    await emu.webhook_idle()
    await first.delivered()
    replies = first.drain(4001)
    assert len(replies) == len(commands), [m.plain_text for m in replies]
    starts = {"/help": texts("ru", "help.text")[:40], "/menu": texts("ru", "flow.cancelled")}
    for command, reply in zip(commands, replies, strict=True):
        if command in starts:
            assert (reply.plain_text or "").startswith(starts[command]), (command, reply.plain_text)
        else:  # identified now: the list of applications
            assert texts("ru", "status.list_title") in (reply.plain_text or ""), reply.plain_text
    took = [replica for _, replica in cluster.proxy.served[served:]]
    assert len(took) == len(commands) and all(a != b for a, b in itertools.pairwise(took)), took  # alternating


async def test_an_update_retried_on_the_other_replica_is_acted_on_once(cluster, emu):
    """A press posted to one replica, then (as after a timeout) to the other: the language is chosen once."""
    from tests.e2e.test_webhook import handled_rows, language_button
    from tests.webhook_harness import press_update
    first, second = cluster.web
    chat = Chat(first, 4002, "ru")
    await chat.start_in("ru")
    await chat.send("/language")
    press = press_update(950_001, 4002, *language_button(first, 4002, "Қазақша"))
    rows = await handled_rows(first)
    assert (await first.post_update(press)).status_code == 200
    await first.delivered()
    assert len(first.drain(4002)) == 1
    assert (await second.post_update(press)).status_code == 200
    await first.delivered()
    assert first.drain(4002) == [] and await handled_rows(first) == rows + 1

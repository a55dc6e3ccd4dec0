"""The Telegram pace shared by every replica through Redis (``QYZMET_REDIS_URL``), behind PriorityRateLimiter.

Each decision is ONE Lua script, so Redis runs all replicas' decisions one after another, on Redis's own clock
(``TIME``): the replicas' clocks never enter. Keys, under the prefix (``QYZMET_REDIS_PREFIX`` + ``pace:``):

- ``overall``, ``bulk``: token buckets, hashes {t: tokens, at: ms}; refilled lazily at each decision
  (QYZMET_TELEGRAM_RATE with one second of burst, QYZMET_BROADCAST_RATE with a tenth of a second);
- ``paused``: exists (PX = retry_after) while a 429 seen by any replica holds back all bulk traffic;
- ``chat:<id>:429``: exists while a 429 holds that chat (replies and bulk alike);
- ``chat:<id>:gap``: a bulk message to that chat went less than QYZMET_TELEGRAM_PER_CHAT_INTERVAL ago (PX);
- ``waiting``: a sorted set of replies held by their chat's 429, scored by when the entry expires.

Why replies stay first, on every replica:
1. A reply's decision has no condition on tokens: it takes one on credit (the bucket may go down to minus two
   seconds' worth), so it is granted by the first script it runs — one round trip — whatever bulk traffic does.
   The only thing a reply waits for is a 429 on its own chat.
2. A bulk decision needs a whole token in both buckets after every reply ordered before it by Redis, so each
   reply pushes every later bulk message on every replica back by 1/rate: replies borrow ahead of bulk.
3. A reply held by its chat's 429 enters ``waiting``; no bulk message is granted anywhere while the set is not
   empty. A 429 pauses bulk and that chat for the same time, so when both end the reply goes first. An entry
   expires a second after the pause it waited for (a replica that died while waiting blocks nobody for long).
A reserve margin for bulk (bulk only above N tokens) was not needed: with replies on credit nothing is left for
a margin to protect, and it would cost broadcast throughput for good. A reply's one round trip (≈ 0.2 ms on a
local network) is the only cost the shared pace adds to it.

Bulk senders that must wait poll: the script answers how long (the token's refill time, a pause's PTTL, a few
ms while a reply waits), plus a little jitter so that the replicas do not ask at the same instant. In each
replica one bulk sender at a time asks and waits out a wait that holds for every chat (PriorityRateLimiter's
bulk turn): N replicas poll Redis, not N x K senders.
Needs Redis ≥ 5 (scripts replicated by their effects, so writes may follow ``TIME``).
"""

from __future__ import annotations

import random

import redis.asyncio as redis

_CLOCK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local function level(key, per_ms, cap)
  local v = redis.call('HMGET', key, 't', 'at')
  if not v[1] then return cap end
  return math.min(cap, tonumber(v[1]) + math.max(now - tonumber(v[2]), 0) * per_ms)
end
local function keep(key, tokens)
  redis.call('HSET', key, 't', tokens, 'at', now)
  redis.call('PEXPIRE', key, 60000)
end
"""

# KEYS: overall, bulk, waiting, paused[, chat:429, chat:gap]. ARGV: overall rate/s, cap, bulk rate/s, cap, gap ms.
# Answers {0, 0} (granted), {ms to wait, 1 if only this chat must wait}, or {-1, 0} (a reply is waiting: look
# again very soon). The chat's gap is taken last, with SET NX PX: when it is set, nothing else stands in the way
# and the tokens are taken with it.
_BULK = _CLOCK + """
local paused = redis.call('PTTL', KEYS[4])
if paused > 0 then return {paused, 0} end
if #KEYS == 6 then
  local held = redis.call('PTTL', KEYS[5])
  if held > 0 then return {held, 1} end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) > 0 then return {-1, 0} end
local o_rate, b_rate = tonumber(ARGV[1]) / 1000, tonumber(ARGV[3]) / 1000
local o, b = level(KEYS[1], o_rate, tonumber(ARGV[2])), level(KEYS[2], b_rate, tonumber(ARGV[4]))
if o < 1 or b < 1 then return {math.ceil(math.max((1 - o) / o_rate, (1 - b) / b_rate)), 0} end
if #KEYS == 6 and tonumber(ARGV[5]) > 0 and not redis.call('SET', KEYS[6], '1', 'NX', 'PX', ARGV[5]) then
  return {math.max(redis.call('PTTL', KEYS[6]), 1), 1}
end
keep(KEYS[1], o - 1)
keep(KEYS[2], b - 1)
return {0, 0}
"""

# KEYS: overall, waiting[, chat:429]. ARGV: rate/s, cap, message (1/0), waiter id, grace ms.
# Answers 0 (granted, on credit) or the ms its chat's 429 still holds it (it is then in `waiting`).
_INTERACTIVE = _CLOCK + """
if #KEYS == 3 then
  local pause = redis.call('PTTL', KEYS[3])
  if pause > 0 then
    redis.call('ZADD', KEYS[2], now + pause + tonumber(ARGV[5]), ARGV[4])
    return pause
  end
  redis.call('ZREM', KEYS[2], ARGV[4])
end
if ARGV[3] == '1' then
  local cap = tonumber(ARGV[2])
  keep(KEYS[1], math.max(level(KEYS[1], tonumber(ARGV[1]) / 1000, cap) - 1, -2 * cap))
end
return 0
"""

# KEYS: paused[, chat:429]. ARGV: ms. Each pause is extended to at least ms from now, never shortened.
_PAUSE = """
for i = 1, #KEYS do
  if redis.call('PTTL', KEYS[i]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[i], '1', 'PX', ARGV[1]) end
end
return 0
"""

POLL = 0.005  # seconds a bulk sender waits before looking again while a reply waits


class RedisPace:
    """The three decisions of PriorityRateLimiter, made in Redis; every wait is in seconds (0: go now)."""

    def __init__(self, client: redis.Redis, prefix: str, overall: tuple[float, float], bulk: tuple[float, float],
                 per_chat_interval: float, waiter_grace: float = 1.0) -> None:
        self.client = client
        self._prefix = prefix
        self._overall_rate, self._overall_cap = overall
        self._bulk_rate, self._bulk_cap = bulk
        self._gap_ms = round(per_chat_interval * 1000)
        self._grace_ms = round(waiter_grace * 1000)
        self._bulk = client.register_script(_BULK)
        self._interactive = client.register_script(_INTERACTIVE)
        self._pause = client.register_script(_PAUSE)

    def key(self, name: str) -> str:
        return self._prefix + name

    async def interactive(self, waiter: str, chat_id: int | None, message: bool) -> float:
        keys = [self.key("overall"), self.key("waiting")]
        if chat_id is not None:
            keys.append(self.key(f"chat:{chat_id}:429"))
        args: list[str | float] = [self._overall_rate, self._overall_cap, int(message), waiter, self._grace_ms]
        return int(await self._interactive(keys, args)) / 1000

    async def bulk(self, chat_id: int | None) -> tuple[float, bool]:
        """Seconds to wait (0: go now), and whether the wait is this chat's alone (its gap, a 429 on it)."""
        keys = [self.key("overall"), self.key("bulk"), self.key("waiting"), self.key("paused")]
        if chat_id is not None:
            keys += [self.key(f"chat:{chat_id}:429"), self.key(f"chat:{chat_id}:gap")]
        args = [self._overall_rate, self._overall_cap, self._bulk_rate, self._bulk_cap, self._gap_ms]
        ms, this_chat = (int(x) for x in await self._bulk(keys, args))
        if ms == 0:
            return 0.0, False
        if ms < 0:
            return POLL, False
        return ms / 1000 + random.uniform(0, 1 / self._bulk_rate), bool(this_chat)

    async def pause(self, chat_id: int | None, seconds: float) -> None:
        """A 429: bulk traffic on every replica, and that chat, wait ``seconds`` (never less than already set)."""
        keys = [self.key("paused")] + ([self.key(f"chat:{chat_id}:429")] if chat_id is not None else [])
        await self._pause(keys, [max(1, round(seconds * 1000))])

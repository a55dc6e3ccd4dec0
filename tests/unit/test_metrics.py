"""bot/metrics.py: one registry per bot, labels from fixed sets only, Bot API method names without the token;
and the kind of an update (handlers/telegram/per_chat.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client.parser import text_string_to_metric_families
from telegram import CallbackQuery, Chat, Message, MessageEntity, Update, User

from bot.metrics import Metrics, OutboxDepth, api_method, api_outcome
from handlers.telegram.per_chat import update_kind


def samples(metrics: Metrics) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(metrics.render().decode()) for s in family.samples}


def test_two_bots_in_one_process_count_apart():
    first, second = Metrics(), Metrics()  # the global registry would refuse the second set of names
    first.sms_reached("sent")
    first.sms_reached("sent")
    second.sms_reached("sent")
    assert samples(first)[("qyzmet_sms_total", frozenset({("state", "sent")}))] == 2
    assert samples(second)[("qyzmet_sms_total", frozenset({("state", "sent")}))] == 1


def test_every_series_is_there_from_the_start_at_zero():
    found = samples(Metrics())
    assert found[("qyzmet_consent_outcomes_total", frozenset({("way", "sms"), ("outcome", "given")}))] == 0
    assert found[("qyzmet_outbox_depth", frozenset({("outbox", "telegram"), ("state", "queued")}))] == 0
    assert found[("qyzmet_telegram_updates_total", frozenset({("kind", "button")}))] == 0


def test_a_label_value_outside_its_set_is_other():
    metrics = Metrics()
    metrics.consent("+77011234567", "given")
    metrics.otp_issued("850412400121")
    metrics.api_call("123456:TOKEN", "ok")
    metrics.refusal("no_consent", "QZ-20250101-0001")
    values = {value for (_, labels) in samples(metrics) for key, value in labels if key != "le"}
    assert not [v for v in values - {"403", "429"} if any(ch.isdigit() for ch in v)]
    found = samples(metrics)
    assert found[("qyzmet_consent_outcomes_total", frozenset({("way", "other"), ("outcome", "given")}))] == 1
    assert found[("qyzmet_otp_sent_total", frozenset({("purpose", "other")}))] == 1
    assert found[("qyzmet_telegram_api_calls_total", frozenset({("method", "other"), ("outcome", "ok")}))] == 1
    assert found[("qyzmet_refusals_total", frozenset({("ground", "no_consent"), ("note", "other")}))] == 1


def test_the_bot_api_method_is_read_from_the_url_never_the_token():
    assert api_method("http://127.0.0.1:8081/bot123456:TEST-TOKEN/sendMessage") == "sendMessage"
    assert api_method("https://api.telegram.org/bot123456:TEST-TOKEN/getUpdates/") == "getUpdates"
    assert api_method("https://api.telegram.org/bot123456:TEST-TOKEN") == "other"
    assert api_method("https://api.telegram.org/file/bot123456:TEST-TOKEN/photos/file_0.jpg") == "other"
    assert [api_outcome(s) for s in (200, 429, 403, 400, 502)] == ["ok", "429", "403", "error", "error"]


def test_a_successful_get_updates_is_the_polling_heartbeat():
    metrics = Metrics()
    metrics.api_call("getUpdates", "error")
    assert metrics.last_poll_ok is None
    metrics.api_call("getUpdates", "ok")
    assert metrics.last_poll_ok is not None
    assert samples(metrics)[("qyzmet_telegram_last_poll_timestamp_seconds", frozenset())] > 0


def test_outbox_gauges_are_replaced_at_each_scrape():
    metrics = Metrics()
    metrics.set_outboxes([OutboxDepth("sms", "queued", 3, 42.0)])
    key = frozenset({("outbox", "sms"), ("state", "queued")})
    assert samples(metrics)[("qyzmet_outbox_depth", key)] == 3
    assert samples(metrics)[("qyzmet_outbox_oldest_due_age_seconds", key)] == 42
    metrics.set_outboxes([])  # the queue emptied: no row comes back for it
    assert samples(metrics)[("qyzmet_outbox_depth", key)] == 0
    assert samples(metrics)[("qyzmet_outbox_oldest_due_age_seconds", key)] == 0


def _message(text: str, entities: tuple[MessageEntity, ...] = ()) -> Message:
    return Message(1, datetime.now(UTC), Chat(7, "private"), from_user=User(7, "U", False), text=text,
                   entities=entities)


def test_update_kinds():
    user = User(7, "U", False)
    command = _message("/start", (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),))
    assert update_kind(Update(1, message=command)) == "command"
    assert update_kind(Update(2, message=_message("850412400121"))) == "message"
    assert update_kind(Update(3, callback_query=CallbackQuery("q", user, "ci", data="x"))) == "button"
    assert update_kind(Update(4, edited_message=_message("edited"))) == "other"
    assert update_kind(object()) == "other"

"""The deployment test's smoke scenario, run in the project's image on the stack's own network
(scripts/deploy_test.sh, tests/deploy/compose*.test.yaml).

Why from inside the network: the test's Docker engine runs without iptables or the default bridge, so nothing
is published to the host; the containers reach each other by service name on the compose network.

    python smoke.py gateway    a fake SMS gateway on :8090 (POST /send as the bot's HTTP gateway contract,
                               GET /inbox?to=PHONE for what reached a phone)
    python smoke.py scale      compose.yaml: a citizen to a certificate through nginx, by webhook; a signed SMS
                               command; /verify, a share link, the issuer's keys; what nginx must not pass
    python smoke.py embedded   compose.embedded.yaml: /start answered by polling, a signed SMS command, /verify

Only the standard library, and the SMS signature computed here from its documented contract (HMAC-SHA256 of the
raw body with QYZMET_SMS_SECRET, hex, in X-Qyzmet-Signature), not with the bot's own helper. Prints what it
checks, never a secret; exits 1 on the first check that fails.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

EMULATOR = "http://telegram:8081/_emu"
GATEWAY = "http://sms:8090"
# Seeded by the test (tests/data/seed.json): Иванов Сергей Петрович, observed in the TB register.
CITIZEN = {"iin": "900715300451", "phone": "+77051112233", "name": "Иванов Сергей Петрович"}
SMS_PHONE = "+77011234567"
ISSUER = "Министерство здравоохранения"


class Failed(Exception):
    pass


def check(condition: bool, what: str, detail: object = "") -> None:
    if not condition:
        raise Failed(f"{what}: {str(detail)[:800]}")
    print(f"  ok  {what}", flush=True)


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, str]:
    """(status, body text) of one request; an HTTP error status is an answer here, not an exception."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")


def post_json(url: str, payload: dict[str, Any]) -> Any:
    status, text = http("POST", url, json.dumps(payload).encode(), {"Content-Type": "application/json"})
    if status != 200:
        raise Failed(f"POST {url} → {status} {text[:300]}")
    return json.loads(text)


def wait_until(what: str, probe: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not probe():
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {seconds:.0f} s")
        time.sleep(1)
    print(f"  ok  {what}", flush=True)


def answers(url: str, status: int = 200) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return http("GET", url, timeout=5)[0] == status
        except OSError:  # not listening yet, or its name not known yet
            return False
    return probe


# --- the fake SMS gateway ----------------------------------------------------------------------------------

def gateway() -> None:
    inbox: dict[str, list[str]] = defaultdict(list)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            inbox[str(body["to"])].append(str(body["text"]))
            self._json({"message_id": f"fake-{body['id']}"})

        def do_GET(self) -> None:
            to = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get("to", [""])[0]
            self._json({"messages": inbox.get(to, [])})

        def _json(self, payload: object) -> None:
            raw = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # an SMS carries codes: nothing of it goes to the log

    print("fake SMS gateway on :8090", flush=True)
    ThreadingHTTPServer(("0.0.0.0", 8090), Handler).serve_forever()


def sms_to(phone: str) -> list[str]:
    return list(json.loads(http("GET", f"{GATEWAY}/inbox?to={urllib.parse.quote(phone)}")[1])["messages"])


# --- a Telegram user, through the emulator's control API ----------------------------------------------------

class User:
    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.seq = 0
        self.seen: list[dict[str, Any]] = []

    def send(self, **what: Any) -> None:
        post_json(f"{EMULATOR}/send", {"user_id": self.user_id, "first_name": "Сергей", "language_code": "ru",
                                       **what})

    def expect(self, what: str, predicate: Callable[[dict[str, Any]], bool], seconds: float = 60) -> dict[str, Any]:
        """The first message from now on that ``predicate`` accepts (long-polling the emulator)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            url = f"{EMULATOR}/messages?chat_id={self.user_id}&after={self.seq}&timeout=10"
            reply = json.loads(http("GET", url)[1])
            self.seq = reply["last_seq"]
            for message in reply["messages"]:
                self.seen.append(message)
                if message.get("kind") != "delete" and predicate(message):
                    print(f"  ok  {what}", flush=True)
                    return message
        last = [m.get("plain_text") or m.get("text") for m in self.seen[-3:]]
        raise Failed(f"{what}: no such message within {seconds:.0f} s; last: {last}")

    def press(self, label: str) -> None:
        for message in reversed(self.seen):
            for row in (message.get("reply_markup") or {}).get("inline_keyboard") or []:
                for button in row:
                    if label in button.get("text", "") and button.get("callback_data"):
                        self.send(callback={"message_id": message["message_id"], "data": button["callback_data"]})
                        return
        raise Failed(f"no button {label!r}")


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("plain_text") or message.get("text") or "")


def has_button(label: str) -> Callable[[dict[str, Any]], bool]:
    def predicate(message: dict[str, Any]) -> bool:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
        return any(label in b.get("text", "") for row in rows for b in row)
    return predicate


# --- the scenarios -----------------------------------------------------------------------------------------

def signed_sms_command(base: str, secret: str) -> None:
    """A help command by SMS, signed as the gateway signs it; its answer reaches the phone by the outbox."""
    body = json.dumps({"id": f"smoke-{uuid.uuid4()}", "from": SMS_PHONE, "text": "ПОМОЩЬ"}).encode()
    headers = {"Content-Type": "application/json"}
    status, _ = http("POST", f"{base}/sms/inbound", body, headers)
    check(status == 401, "/sms/inbound refuses an unsigned SMS (401)", status)
    headers["X-Qyzmet-Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    status, text = http("POST", f"{base}/sms/inbound", body, headers)
    check(status == 200, "/sms/inbound takes a signed SMS command (200)", f"{status} {text[:200]}")
    wait_until("the answer to the SMS command reached the phone", lambda: bool(sms_to(SMS_PHONE)), 90)


def verify_page(base: str) -> None:
    status, page = http("GET", f"{base}/verify?lang=ru")
    check(status == 200 and ISSUER in page, "GET /verify: 200, the issuer named", status)


def scale() -> None:
    proxy = "http://proxy:8080"
    secret = os.environ["QYZMET_SMS_SECRET"]
    print("compose.yaml, through nginx:", flush=True)
    wait_until("/health/ready answers 200 through nginx", answers(f"{proxy}/health/ready"), 180)

    # What nginx must not pass: the metrics and the other health routes (deploy/nginx.conf says why), however
    # the path is spelled; the replicas themselves still serve them on the network.
    for path in ("/metrics", "//metrics", "/%6Detrics", "/metrics?x=1", "/verify/../metrics", "/health/live",
                 "/health", "/health/"):
        status, _ = http("GET", proxy + path)
        check(status in (403, 404), f"GET {path} through nginx: {status}", status)
    check(answers("http://web:8080/metrics")(), "GET /metrics on a web replica itself: 200")

    # A citizen, by webhook through nginx, to a certificate.
    user = User(7001)
    user.send(text="/start")
    user.expect("/start answered (by webhook, through nginx)", has_button("Русский"))
    user.press("Русский")
    user.expect("language set, menu shown", has_button("Сведения о себе"))
    user.press("Сведения о себе")
    user.expect("own request: the registers offered", has_button("тизиатрия"))
    user.press("тизиатрия")
    user.expect("asked for the contact", lambda m: bool((m.get("reply_markup") or {}).get("keyboard")))
    user.send(contact={"phone_number": CITIZEN["phone"], "user_id": user.user_id})
    user.expect("asked for the IIN", lambda m: "ИИН" in text_of(m))
    user.send(text=CITIZEN["iin"])
    code = ""

    def code_arrived() -> bool:
        nonlocal code
        found = [re.search(r"(?<!\d)(\d{6})(?!\d)", text) for text in sms_to(CITIZEN["phone"])]
        code = next((m.group(1) for m in reversed(found) if m), "")
        return bool(code)

    wait_until("the one-time code reached the phone by the SMS gateway", code_arrived, 60)
    user.send(text=code)
    certificate = user.expect("the certificate", lambda m: bool(m.get("protect_content")) and "QZ-" in text_of(m))
    text = text_of(certificate)
    check(CITIZEN["name"] in text and "Сведения/Мәлімет" in text, "the certificate names the citizen", text)
    number = re.search(r"QZ-[0-9-]+", text)
    verification = re.search(r"Код проверки: ([0-9A-Z-]+)", text)
    check(bool(number and verification), "the certificate carries its number and verification code", text)
    assert number and verification

    # The certificate checked on the public page, through nginx.
    verify_page(proxy)
    form = urllib.parse.urlencode({"number": number.group(0), "code": verification.group(1)}).encode()
    status, page = http("POST", f"{proxy}/verify?lang=ru", form,
                        {"Content-Type": "application/x-www-form-urlencoded"})
    check(status == 200 and number.group(0) in page and ISSUER in page,
          "POST /verify with the number and code: 200, the certificate found", f"{status} {page[:300]}")

    # A share link, opened through nginx.
    user.press("Поделиться")
    user.expect("asked for the link's lifetime", has_button("На 1 час"))
    user.press("На 1 час")
    shared = user.expect("the share link", lambda m: "/s/" in text_of(m))
    link = re.search(r"/s/[A-Za-z0-9_.-]+", text_of(shared))  # id.secret
    assert link
    status, page = http("GET", proxy + link.group(0))
    check(status == 200 and CITIZEN["name"] in page, "GET /s/… through nginx: the certificate", status)

    status, keys = http("GET", f"{proxy}/.well-known/jwks.json")
    check(status == 200 and "keys" in json.loads(keys), "GET /.well-known/jwks.json through nginx: 200", status)
    status, _ = http("POST", f"{proxy}/api/v1/applications/events", b"{}", {"Content-Type": "application/json"})
    check(status == 401, "POST /api/v1/applications/events without the token: the bot's 401", status)
    signed_sms_command(proxy, secret)


def embedded() -> None:
    bot = "http://bot:8080"
    print("compose.embedded.yaml:", flush=True)
    wait_until("/health/ready answers 200", answers(f"{bot}/health/ready"), 180)
    user = User(7002)
    user.send(text="/start")
    user.expect("/start answered (by polling)", has_button("Русский"))
    verify_page(bot)
    signed_sms_command(bot, os.environ["QYZMET_SMS_SECRET"])


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    scenarios = {"gateway": gateway, "scale": scale, "embedded": embedded}
    if mode not in scenarios:
        sys.exit("usage: smoke.py gateway|scale|embedded")
    try:
        scenarios[mode]()
    except Failed as failure:
        print(f"FAILED  {failure}", flush=True)
        sys.exit(1)
    print(f"smoke {mode}: passed", flush=True)


if __name__ == "__main__":
    main()

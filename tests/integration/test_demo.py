"""`qyzmet demo --script`: what a newcomer runs, as a subprocess, with a scripted conversation in Russian."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEMO_SEED = json.loads((ROOT / "bot" / "sandbox" / "demo_seed.json").read_text(encoding="utf-8"))


def _run_demo(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.txt").write_text(script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("QYZMET_")}
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run([sys.executable, "-m", "bot.app.cli", "demo", "--script", "script.txt"],
                          cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, encoding="utf-8", timeout=60)


def _section(transcript: str, line: str) -> str:
    """What was printed after the terminal line ``line`` up to the next terminal line."""
    start = transcript.index(f"1001> {line}\n")
    end = transcript.find("\n1001> ", start + 1)
    return transcript[start:end if end != -1 else None]


def test_scripted_demo_own_and_third_party_request(tmp_path):
    me, other = DEMO_SEED["citizens"][0], DEMO_SEED["citizens"][1]
    assert other["phone"], "the second demo citizen needs a phone for the consent SMS"
    script = f"""\
# own request, in Russian
/start
2
1
1
:contact {other["phone"]}
:contact
{me["iin"]}
{{code:{me["phone"]}}}
:btn PDF
# another person's information, with their consent code
2
1
{other["iin"]}
{{code:{other["phone"]}}}
# the same, but the person consents by replying to the SMS
2
2
{other["iin"]}
:smsfrom {other["phone"]} ДА {{code:{other["phone"]}}}
:sms
:quit
"""
    result = _run_demo(tmp_path, script)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "Traceback" not in out + result.stderr

    # The banner names who you are and the demo citizens, in full, so they can be typed.
    assert "1001" in out and me["phone"] in out.split("1001> ", 1)[0]
    for citizen in DEMO_SEED["citizens"]:
        assert citizen["iin"] in out.split("1001> ", 1)[0]

    # Buttons are numbered, and pressing a number says which button it was.
    assert "[1] Қазақша  [2] Русский" in out
    assert "👆 [2] Русский" in out

    # Someone else's contact is refused: the bot asks for the contact button again.
    assert "← :contact" in _section(out, f":contact {other['phone']}")

    # Identification: the code arrives by SMS, is inserted from the template, the certificate follows.
    assert f"📨 SMS → {me['phone']}: " in out
    own = _section(out, f"{{code:{me['phone']}}}")
    assert re.search(r"→ \d{6}", own)
    assert "🔒" in own
    assert "На динамическом наблюдении: не состоит" in own
    assert me["full_name"] in own

    # Third party: the consent code goes to the subject's phone; typed back, it gives their certificate.
    assert f"📨 SMS → {other['phone']}: " in _section(out, other["iin"])
    third = _section(out, f"{{code:{other['phone']}}}")
    assert "🔒" in third
    assert "На динамическом наблюдении: состоит" in third
    assert other["full_name"] in third

    # Consent by SMS reply: the certificate is pushed to the requester's chat.
    by_sms = _section(out, f":smsfrom {other['phone']} ДА {{code:{other['phone']}}}")
    assert "🔒" in by_sms and other["full_name"] in by_sms

    # The signed PDF is saved beside the demo's database, and its path printed.
    saved = list((tmp_path / "var" / "demo" / "documents").glob("QZ-*.pdf"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"%PDF-")
    assert f"💾 {saved[0]}" in out

    # :sms lists the whole outbox; the run leaves a fresh database under ./var/demo.
    assert _section(out, ":sms").count("📨") >= 2
    assert list((tmp_path / "var" / "demo").glob("demo-*.sqlite3"))


def test_demo_refuses_unknown_code_and_buttons_without_crashing(tmp_path):
    result = _run_demo(tmp_path, "7\n{code:+77059999999}\n:nonsense\n/start\n")  # EOF ends it, no :quit
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "нет сообщения с кнопками" in result.stdout
    assert "нет SMS с кодом на +77059999999" in result.stdout
    assert "[1] Қазақша  [2] Русский" in result.stdout


def test_demo_provider_feed_notifies_the_citizen_and_the_operator_has_a_console(tmp_path):
    me = DEMO_SEED["citizens"][0]
    mine = next(a for a in DEMO_SEED["applications"] if a["iin"] == me["iin"] and a["status"] != "result_ready")
    script = f"""\
/start
2
1
1
:contact
{me["iin"]}
{{code:{me["phone"]}}}
:feed {mine["number"]} result_ready
:feed {mine["number"]} teleported
:as 9001
/op
2
:quit
"""
    result = _run_demo(tmp_path, script)
    out = result.stdout
    assert result.returncode == 0, result.stderr + out
    assert "Traceback" not in out + result.stderr
    fed = _section(out, f":feed {mine['number']} result_ready")
    assert "HTTP 200" in fed
    assert f"Статус заявки {mine['number']} изменён" in fed  # the notice reaches the identified applicant
    assert "HTTP 400" in _section(out, f":feed {mine['number']} teleported")
    console = out[out.index("9001> /op"):]
    assert "Пульт оператора" in console or "Оператор пульті" in console, console

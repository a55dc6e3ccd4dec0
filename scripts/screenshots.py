#!/usr/bin/env python3
"""Screenshots of the public pages: ``.venv/bin/python scripts/screenshots.py [DIR]``.

Saves, into DIR (docs/ unless given), on a phone (390 px) and a desktop (1280 px), in Kazakh and Russian:
/verify as opened and with the verdict on a certificate the bot really issued
(``verify-{kk,ru}-{390,1280}[-verdict].png``), the QR code's page (``seal-…``) and a share link (``share-…``).
The README shows a few of them. They are the screenshots the real-browser test takes anyway
(tests/e2e/test_verify_browser.py), so the pictures show what the test checked, and the script cannot drift
from the page. Needs Chromium (scripts/browser.sh installs it as root).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST = "tests/e2e/test_verify_browser.py"


def main(argv: list[str]) -> int:
    target = Path(argv[0]).resolve() if argv else ROOT / "docs"
    target.mkdir(parents=True, exist_ok=True)
    # CI set: without Chromium the test fails, where it would skip and leave the old pictures in place.
    env = {**os.environ, "QYZMET_SCREENSHOTS": str(target), "CI": "true"}
    env.pop("QYZMET_TEST_POSTGRES", None)  # the test runs on SQLite only
    status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST,
                              "-k", "real_browser"], cwd=ROOT, env=env)
    if status == 0:
        for path in sorted(target.glob("*.png")):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env bash
# Installs the browser of the real-browser tests (tests/browser.py) when it is missing: Debian's chromium and
# chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver), which selenium drives headless. pip's playwright
# cannot download its browsers on our CI machines, and apt's ChromeDriver always matches apt's Chromium.
# Fonts come along so that the screenshots show what a phone shows, not boxes: DejaVu has every Kazakh letter,
# Noto Color Emoji the verdict's ✅ and ❌.
#
# Quiet and non-interactive (CI runs as root with no standard input). The package lists are refreshed only when
# needed: when apt does not know chromium yet (a fresh machine has no lists), or when an install from the lists
# on disk fails (they name versions the mirror no longer has). Not root, or no apt: a note, and the browser
# tests skip on a developer's machine; in CI (CI set) they fail instead.
set -euo pipefail
[ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && exit 0
packages=(chromium chromium-driver fonts-dejavu-core fonts-noto-color-emoji)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "browser.sh: Chromium is missing, so the browser tests will skip; install it: apt-get install ${packages[*]}" >&2
    exit 0
fi
log=$(mktemp "${TMPDIR:-/tmp}/qyzmet-apt.XXXXXX")
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
update() { apt-get update -qq </dev/null >>"$log" 2>&1; }
install() { apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null >>"$log" 2>&1; }
echo "browser.sh: installing ${packages[*]}" >&2
apt-cache show chromium >/dev/null 2>&1 || update || { cat "$log" >&2; exit 1; }
install || { update && install; } || { cat "$log" >&2; echo "browser.sh: apt-get install failed" >&2; exit 1; }

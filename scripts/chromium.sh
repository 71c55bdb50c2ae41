#!/usr/bin/env bash
# Make Debian's chromium (/usr/bin/chromium) available to tests/test_browser.py, which drives
# it with Playwright (no `playwright install`): installed with apt-get when this runs as root
# where apt-get exists. When it is still missing, says so loudly and exits 1 (scripts/test.sh
# then runs the suite without the browser tests; CI's .ci/run stops).
CHROMIUM=/usr/bin/chromium  # tests/test_browser.py's CHROMIUM
if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for tests/test_browser.py (apt-get install chromium)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
[ -x "$CHROMIUM" ] && exit 0
cat >&2 <<MESSAGE

******************************************************************************************
tests/test_browser.py (the demo page in a real browser) will be SKIPPED: it needs Debian's
chromium at $CHROMIUM. Install it (sudo apt-get install chromium), or run
scripts/test.sh as root where apt-get exists, which installs it.
******************************************************************************************

MESSAGE
exit 1

#!/usr/bin/env bash
# Installs what the tests need from Debian: unixODBC and the MariaDB ODBC driver (pyodbc tests),
# and chromium with chromium-driver and fonts with Polish letters (the console's browser tests:
# browser builds cannot be downloaded at run time, Debian's packages can).
set -euo pipefail
have_odbc() { command -v odbcinst >/dev/null 2>&1 && odbcinst -q -d -n "MariaDB Unicode" >/dev/null 2>&1; }
have_chromium() { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }
if have_odbc && have_chromium; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends unixodbc odbc-mariadb \
  chromium chromium-driver fonts-dejavu-core fonts-liberation >/dev/null
odbcinst -q -d -n "MariaDB Unicode" >/dev/null
have_chromium

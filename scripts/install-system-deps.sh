#!/usr/bin/env bash
# Installs what the project needs from Debian: unixODBC and the MariaDB ODBC driver (pyodbc tests).
set -euo pipefail
if command -v odbcinst >/dev/null 2>&1 && odbcinst -q -d -n "MariaDB Unicode" >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq unixodbc odbc-mariadb >/dev/null
odbcinst -q -d -n "MariaDB Unicode" >/dev/null

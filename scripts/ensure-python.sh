#!/usr/bin/env bash
# Makes sure Python >= 3.11 with venv and pip is available; installs Debian's packages if not.
set -euo pipefail
python=${1:-python3}
if "$python" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    exit 0
fi
echo "setup: installing Python 3.11+ with venv (Debian packages python3, python3-venv)" >&2
if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
$sudo apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv python3-pip >/dev/null
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "setup: $python is older than 3.11; install Python 3.11 or newer and retry" >&2
    exit 1
}

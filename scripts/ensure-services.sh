#!/usr/bin/env bash
# Makes sure the servers the test suite talks to are running on loopback, installing them
# from Debian's packages on a fresh machine: PostgreSQL on 127.0.0.1:5432, and Dovecot's binaries
# (the tests start their own throw-away IMAP server on a free port, see tests/mailservers.py),
# and Mosquitto's broker binary (likewise: tests/mosquitto.py).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
apt_updated=
apt_install() {
    if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 0.5; done
    return 1
}

ensure_postgresql() {
    if port_open 5432; then return 0; fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "setup: installing PostgreSQL (Debian package postgresql)" >&2
        apt_install postgresql
        fresh=1
    fi
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ -n "${fresh:-}" ]; then
        # A cluster we just installed: let local test clients in without a password.
        hba=/etc/postgresql/$version/main/pg_hba.conf
        $sudo sed -i -E 's/^(local|host)(\s+all\s+all\s+.*\s)(peer|md5|scram-sha-256)$/\1\2trust/' "$hba"
        $sudo sed -i -E 's/^(local\s+all\s+postgres\s+)peer$/\1trust/' "$hba"
    fi
    echo "setup: starting PostgreSQL $version" >&2
    # The package may have started the cluster already: start if stopped, then reload pg_hba.conf.
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    $sudo pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
    wait_port 5432 || { echo "setup: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
}

system_dovecot_running() {
    [ -r /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null
}

ensure_dovecot() {
    if command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/dovecot-lda ] \
        && getent passwd dovecot >/dev/null && getent passwd dovenull >/dev/null; then
        return 0
    fi
    echo "setup: installing Dovecot (Debian package dovecot-imapd)" >&2
    local was_running=
    if system_dovecot_running; then was_running=1; fi
    apt_install dovecot-imapd
    # Without a policy-rc.d that forbids it, the package starts a system Dovecot on ports 143/993.
    # The tests never use it (they run their own instance); stop the one the install started.
    if [ -z "$was_running" ] && system_dovecot_running; then
        echo "setup: stopping the system Dovecot the package started (the tests run their own)" >&2
        $sudo doveadm stop >/dev/null 2>&1 || true
    fi
}

ensure_mosquitto() {
    # The tests start their own throw-away broker on a free loopback port (tests/mosquitto.py);
    # they need only the binary. A system broker the package may start on 1883 is left alone:
    # the tests never use it.
    if command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; then return 0; fi
    echo "setup: installing Mosquitto (Debian package mosquitto)" >&2
    apt_install mosquitto
}

ensure_report_tools() {
    # PDF reports: WeasyPrint needs Pango and a font; the report tests read PDFs back with
    # poppler's pdftoppm and pdftotext.
    local missing=()
    for package in libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    echo "setup: installing ${missing[*]} (PDF reports and their tests)" >&2
    apt_install "${missing[@]}"
}

ensure_sound_tools() {
    # The sandbox's recordings speak French through espeak-ng; sox is there for ad-hoc effects
    # and for listening to a corpus (`play`, `sox --i`).
    local missing=()
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    command -v sox >/dev/null || missing+=(sox)
    if [ ${#missing[@]} -eq 0 ]; then return 0; fi
    echo "setup: installing ${missing[*]} (real sound in the sandbox's recordings)" >&2
    apt_install "${missing[@]}"
}

ensure_postgresql
ensure_dovecot
ensure_mosquitto
ensure_report_tools
ensure_sound_tools

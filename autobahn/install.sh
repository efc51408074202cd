#!/usr/bin/env bash
# Installs Autobahn|Testsuite's `wstest` (autobahntestsuite 0.8.2, Python 2.7 only)
# into a virtualenv, default ${WSTEST_VENV:-$HOME/.cache/websock-wstest}.
#
# Debian 12 ships no Python 2.7, so python2.7 is taken from Debian 11 (bullseye):
# an apt source for bullseye is derived at run time from the machine's own
# /etc/apt/sources.list.d/debian.sources (or /etc/apt/sources.list), pinned low
# so it never replaces bookworm packages. Idempotent: does nothing if wstest
# already runs. Needs root (or sudo) only for the apt part.
# Prints the path of wstest as its last line.
set -euo pipefail

VENV="${WSTEST_VENV:-${HOME:-/root}/.cache/websock-wstest}"
WSTEST="$VENV/bin/wstest"
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

log() { echo "install.sh: $*" >&2; }

wstest_works() {
    [ -x "$WSTEST" ] && "$WSTEST" --help >/dev/null 2>&1 \
        && "$WSTEST" -m fuzzingserver --help >/dev/null 2>&1
}

if wstest_works; then
    log "wstest already installed"
    echo "$WSTEST"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

# Everything pinned to the set known to install and run on Python 2.7 here
# (pip 20.3 + python_requires already keep py3-only releases out; the pins
# keep the install reproducible). wsaccel/ujson are built with gcc and
# python2.7-dev; cryptography 3.3.2 comes as a cp27mu manylinux wheel.
CONSTRAINTS='
attrs==21.4.0
autobahn==0.10.9
autobahntestsuite==0.8.2
Automat==22.10.0
cffi==1.15.1
constantly==15.1.0
cryptography==3.3.2
enum34==1.1.10
hyperlink==21.0.0
idna==2.10
incremental==22.10.0
ipaddress==1.0.23
Jinja2==2.11.3
klein==20.6.0
linecache2==1.0.0
MarkupSafe==1.1.1
pyasn1==0.5.1
pyasn1-modules==0.3.0
pycparser==2.21
PyHamcrest==1.10.1
pyOpenSSL==21.0.0
service-identity==21.1.0
six==1.17.0
traceback2==1.4.0
Tubes==0.2.1
Twisted==20.3.0
txaio==2.1.0
typing==3.10.0.0
ujson==2.0.3
unittest2==1.1.0
Werkzeug==1.0.1
wsaccel==0.6.6
zope.interface==5.5.2
'

# ---- 1. python2.7 --------------------------------------------------------
PY27=""
for c in /usr/bin/python2.7 /usr/local/bin/python2.7; do
    if [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
        PY27="$c"; break
    fi
done

need_pkgs=(python2.7 python2.7-dev gcc)
missing=()
for p in "${need_pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ -z "$PY27" ] || [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]:-python2.7} from Debian 11 (bullseye)"
    BULLSEYE_SRC=/etc/apt/sources.list.d/websock-bullseye.sources
    BULLSEYE_PIN=/etc/apt/preferences.d/websock-bullseye
    if [ ! -s "$BULLSEYE_SRC" ]; then
        tmp="$(mktemp)"
        if [ -s /etc/apt/sources.list.d/debian.sources ]; then
            # deb822: copy each Debian stanza with its Suites pointed at
            # bullseye (the security stanza at bullseye-security).
            awk 'BEGIN { RS = ""; ORS = "\n\n" }
                 /(^|\n)Suites:[^\n]*[a-z]/ && /(^|\n)URIs:[^\n]*debian/ {
                     sec = ($0 ~ /(^|\n)URIs:[^\n]*security/)
                     n = split($0, L, "\n"); out = ""
                     for (i = 1; i <= n; i++) {
                         if (L[i] ~ /^Suites:/)
                             L[i] = sec ? "Suites: bullseye-security" : "Suites: bullseye bullseye-updates"
                         else if (L[i] ~ /^Types:/)
                             L[i] = "Types: deb"
                         out = out L[i] (i < n ? "\n" : "")
                     }
                     print out
                 }' /etc/apt/sources.list.d/debian.sources \
                | awk 'BEGIN { RS = ""; ORS = "\n\n" } !seen[$0]++' > "$tmp"
        fi
        if [ ! -s "$tmp" ] && [ -s /etc/apt/sources.list ]; then
            # one-line format: "deb [opts] URI SUITE COMPONENTS..."
            awk '$1 == "deb" {
                     i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                     uri = $i; if (uri !~ /debian/) next
                     sec = (uri ~ /security/)
                     printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: main\n\n", uri, sec ? "bullseye-security" : "bullseye bullseye-updates"
                 }' /etc/apt/sources.list | awk 'BEGIN{RS="";ORS="\n\n"} !seen[$0]++' > "$tmp"
        fi
        if [ ! -s "$tmp" ]; then
            rm -f "$tmp"
            log "cannot derive a Debian apt source from /etc/apt; install python2.7 by hand"
            exit 1
        fi
        $SUDO install -m 0644 "$tmp" "$BULLSEYE_SRC"
        rm -f "$tmp"
    fi
    if [ ! -s "$BULLSEYE_PIN" ]; then
        # Low priority: bullseye is only used for packages bookworm lacks.
        printf 'Package: *\nPin: release n=bullseye\nPin-Priority: 100\n\nPackage: *\nPin: release n=bullseye-updates\nPin-Priority: 100\n\nPackage: *\nPin: release n=bullseye-security\nPin-Priority: 100\n' \
            | $SUDO tee "$BULLSEYE_PIN" >/dev/null
    fi
    $SUDO apt-get update -q || log "apt-get update reported errors; trying the install anyway"
    $SUDO apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" </dev/null
    PY27=/usr/bin/python2.7
fi
log "python2.7: $PY27"

# ---- 2. virtualenv (last releases that can create Python 2.7 envs) -------
PY3="$(command -v python3)"
VENV_TOOL_DIR="$VENV.tools"
if ! "$VENV_TOOL_DIR/bin/python" -m virtualenv --version >/dev/null 2>&1; then
    log "installing virtualenv<20.22 into $VENV_TOOL_DIR"
    rm -rf "$VENV_TOOL_DIR"
    if ! "$PY3" -m venv "$VENV_TOOL_DIR" 2>/dev/null; then
        # Debian's own python3 needs python3-venv for ensurepip.
        rm -rf "$VENV_TOOL_DIR"
        $SUDO apt-get install -y -q python3-venv </dev/null
        "$PY3" -m venv "$VENV_TOOL_DIR"
    fi
    "$VENV_TOOL_DIR/bin/python" -m pip install -q 'virtualenv<20.22'
fi

# ---- 3. the py2.7 env with wstest ----------------------------------------
rm -rf "$VENV"
"$VENV_TOOL_DIR/bin/python" -m virtualenv -q -p "$PY27" "$VENV"
constraints="$(mktemp)"
printf '%s' "$CONSTRAINTS" > "$constraints"
"$VENV/bin/pip" install -q -c "$constraints" autobahntestsuite==0.8.2
rm -f "$constraints"

if ! wstest_works; then
    log "wstest was installed but does not run:"
    "$WSTEST" --help 2>&1 | tail -20 >&2 || true
    exit 1
fi
echo "$WSTEST"

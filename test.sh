#!/usr/bin/env bash
# Runs every test of the workspace. The store's conformance suite runs on SQLite always and on
# PostgreSQL when THABIAN_TEST_POSTGRES_URL is set (or a server answers at 127.0.0.1:5432).
# THABIAN_REQUIRE_POSTGRES=1 turns a missing PostgreSQL into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")"

default_url=postgres://postgres@127.0.0.1:5432/postgres

pg_reachable() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p 5432 -t 3
    else
        timeout 3 bash -c ': </dev/tcp/127.0.0.1/5432' 2>/dev/null
    fi
}

if [[ -z "${THABIAN_TEST_POSTGRES_URL:-}" ]]; then
    if pg_reachable; then
        export THABIAN_TEST_POSTGRES_URL="$default_url"
        echo "PostgreSQL tests: using $THABIAN_TEST_POSTGRES_URL" >&2
    elif [[ "${THABIAN_REQUIRE_POSTGRES:-}" == 1 ]]; then
        echo "FATAL: PostgreSQL not reachable at 127.0.0.1:5432 and THABIAN_REQUIRE_POSTGRES=1" >&2
        exit 1
    else
        echo "PostgreSQL not reachable at 127.0.0.1:5432: the PostgreSQL tests will be SKIPPED" >&2
    fi
fi

if [[ ! -e /usr/lib/softhsm/libsofthsm2.so ]]; then
    if [[ "${THABIAN_REQUIRE_SOFTHSM:-}" == 1 ]]; then
        echo "FATAL: SoftHSM2 (/usr/lib/softhsm/libsofthsm2.so) is missing and THABIAN_REQUIRE_SOFTHSM=1" >&2
        exit 1
    fi
    echo "SoftHSM2 not installed (Debian package softhsm2): the PKCS#11 signing tests will be SKIPPED" >&2
fi

cargo test --workspace --locked "$@"

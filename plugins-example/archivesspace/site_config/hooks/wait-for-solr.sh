#!/bin/bash
# Start hook (graft-launcher runs it before the JVM): wait up to 2 minutes for the external Solr
# to answer, then fail with one clear line. A failed hook fails the container's start, so an
# orchestrator retries it (or rolls an update back) instead of running a half-working replica.
# The launcher exports every setting, so APPCONFIG_SOLR_URL is set here whichever way it was given.
set -euo pipefail
url="${APPCONFIG_SOLR_URL:?APPCONFIG_SOLR_URL is not set}/admin/ping"
for _ in $(seq 60); do
  if wget -q -O /dev/null --timeout=2 "$url"; then exit 0; fi
  sleep 2
done
echo "solr at ${APPCONFIG_SOLR_URL} did not answer for 2 minutes" >&2
exit 1

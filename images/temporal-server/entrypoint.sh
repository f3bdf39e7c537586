#!/bin/sh
# The official temporalio/server entrypoint (go.temporal.io/server docker/scripts/sh/entrypoint.sh
# at v1.32.0), unchanged in effect: bind on the container's address unless BIND_ON_IP says
# otherwise, and when binding on a wildcard, broadcast the container's address to the other
# services (membership). `temporal-server start` without flags renders the embedded config
# template (common/config/config_template_embedded.yaml) from the environment.
set -eu

: "${BIND_ON_IP:=$(getent hosts "$(hostname)" | awk '{print $1;}')}"
export BIND_ON_IP

if [ "${BIND_ON_IP}" = "0.0.0.0" ] || [ "${BIND_ON_IP}" = "::0" ]; then
    : "${TEMPORAL_BROADCAST_ADDRESS:=$(getent hosts "$(hostname)" | awk '{print $1;}')}"
    export TEMPORAL_BROADCAST_ADDRESS
fi

exec temporal-server start

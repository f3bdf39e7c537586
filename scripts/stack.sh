#!/usr/bin/env bash
# scripts/stack.sh — the one way to drive the production stack (docker-compose.yml): PostgreSQL,
# the Temporal server on it, the Web UI and four worker hosts, on this machine.
#
# Usage:
#   bash scripts/stack.sh up                 build what is missing, `compose up -d`, wait for
#                                            Temporal, register the search attributes; stdout:
#                                              TEMPORAL_ADDRESS=127.0.0.1:<port>
#                                              RAGOMICS_STACK_UI=http://127.0.0.1:<ui port>
#   bash scripts/stack.sh down [--volumes]   stop and remove the stack's containers (and with
#                                            --volumes its database volume); the workspace stays
#   bash scripts/stack.sh images             only build the local images (idempotent)
#   bash scripts/stack.sh compose ARGS...    `docker compose` (v2 plugin if present, else
#                                            docker-compose v1) with this stack's project name,
#                                            file and environment, e.g. `compose ps`, `compose
#                                            logs temporal`, `compose kill worker-2`
#   bash scripts/stack.sh status             `compose ps`, and whether the frontend answers
#
# `up` steps (each one's time is logged): Docker engine (scripts/ensure-docker.sh) → ports free →
# npm packages and build (for the search-attribute registration on the host) → local images
# (scripts/build-stack-images.sh: the Go build of the Temporal server on the first run, then
# PostgreSQL, Temporal, UI, Node and worker images) and the blocks image (scripts/build-image.sh)
# → the stack's folders → `compose up -d` (it waits for PostgreSQL's healthcheck, the schema
# one-shot, Temporal's healthcheck and the namespace one-shot in that order) → the frontend
# answers `temporal operator cluster health` → search attributes. Running `up` on a stack that is
# up changes nothing that is current and prints the same lines.
#
# Exit 3 with one line naming what is missing: no Docker engine, no Go toolchain (first build
# only), a port in use (named, with the variable that moves it), PostgreSQL not healthy, the
# schema setup failed, Temporal not answering; each names the `stack.sh compose logs` to read.
# Bad arguments or variables: one line, exit 3, nothing started.
#
# Env (all optional):
#   RAGOMICS_STACK_NAME      compose project name (default ragomics): several stacks side by side
#   RAGOMICS_STACK_PORT      Temporal frontend on the host (default 7233)
#   RAGOMICS_STACK_UI_PORT   Web UI on the host (default 8080)
#   RAGOMICS_STACK_BIND      host address the two ports bind (default 127.0.0.1)
#   RAGOMICS_STACK_DIR       host folder holding workspace/ and data/, mounted at the same path in
#                            the workers (default $DATA_DIR/stack/<name>)
#   RAGOMICS_MAX_CONCURRENT_NODES   node cap of worker-1..3 (each); RAGOMICS_WORKER_<N>_MAX_
#                            CONCURRENT_NODES sets one (N = 1, 2, 3, HIGHMEM; highmem default 2)
#   RAGOMICS_CONTAINER_SCOPE label of every block container the workers start
#   RAGOMICS_STACK_LOCAL_IMAGES=0   use the compose defaults (official images, pulled) instead
#                            of building local ones; *_IMAGE variables set by hand always win
#   RAGOMICS_STACK_START_TIMEOUT    seconds `up` waits from `compose up` until the frontend
#                            answers (default 300)
#   TEMPORAL_NAMESPACE       namespace created and given the search attributes (default default)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$PROJECT_ROOT"

NAME="${RAGOMICS_STACK_NAME:-ragomics}"
PORT="${RAGOMICS_STACK_PORT:-7233}"
UI_PORT="${RAGOMICS_STACK_UI_PORT:-8080}"
BIND="${RAGOMICS_STACK_BIND:-127.0.0.1}"
STACK_DIR="${RAGOMICS_STACK_DIR:-$DATA_DIR/stack/$NAME}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
START_TIMEOUT="${RAGOMICS_STACK_START_TIMEOUT:-300}"
IMAGES_ENV="$DATA_DIR/stack-images.env"
COMPOSE_FILE="$PROJECT_ROOT/docker-compose.yml"

# --- input checks (before anything starts) -------------------------------------------------
[[ "$NAME" =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die -c 3 "RAGOMICS_STACK_NAME='$NAME' is not a compose project name (lower-case letters, digits, '-', '_')"
for var in PORT UI_PORT; do
  v="${!var}"
  [[ "$v" =~ ^[0-9]+$ ]] && (( v >= 1 && v <= 65535 )) || die -c 3 "RAGOMICS_STACK_${var}='$v' is not a port number (1-65535)"
done
[[ "$PORT" != "$UI_PORT" ]] || die -c 3 "RAGOMICS_STACK_PORT and RAGOMICS_STACK_UI_PORT are both $PORT"
[[ "$START_TIMEOUT" =~ ^[0-9]+$ ]] || die -c 3 "RAGOMICS_STACK_START_TIMEOUT='$START_TIMEOUT' is not a number of seconds"
[[ "$STACK_DIR" == /* ]] || STACK_DIR="$PROJECT_ROOT/$STACK_DIR"

# What compose interpolates (docker-compose.yml); per-worker caps fall back to the common one.
export RAGOMICS_STACK_PORT="$PORT" RAGOMICS_STACK_UI_PORT="$UI_PORT" RAGOMICS_STACK_BIND="$BIND" \
  RAGOMICS_STACK_DIR="$STACK_DIR" TEMPORAL_NAMESPACE="$NAMESPACE"
for n in 1 2 3; do
  v="RAGOMICS_WORKER_${n}_MAX_CONCURRENT_NODES"
  if [[ -z "${!v:-}" && -n "${RAGOMICS_MAX_CONCURRENT_NODES:-}" ]]; then export "$v=$RAGOMICS_MAX_CONCURRENT_NODES"; fi
done

# select_images: the image variables compose reads. Set by hand: kept. Else the local images
# recorded by the last `images` run (build-stack-images.sh writes $IMAGES_ENV), unless
# RAGOMICS_STACK_LOCAL_IMAGES=0 (then compose's defaults: the official images).
select_images() {
  local line key
  [[ "${RAGOMICS_STACK_LOCAL_IMAGES:-1}" == 0 || ! -f "$IMAGES_ENV" ]] && return 0
  while IFS= read -r line; do
    key="${line%%=*}"
    [[ -n "${!key:-}" ]] || export "$line"
  done <"$IMAGES_ENV"
  if [[ -z "${RAGOMICS_BLOCKS_IMAGE:-}" ]]; then
    RAGOMICS_BLOCKS_IMAGE="$(blocks_image)"
    export RAGOMICS_BLOCKS_IMAGE
  fi
}

# resolve_compose: COMPOSE=(the compose implementation, this stack's project and file).
COMPOSE=()
resolve_compose() {
  [[ ${#COMPOSE[@]} -eq 0 ]] || return 0
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose)
  elif command -v docker-compose >/dev/null 2>&1; then COMPOSE=(docker-compose)
  else die -c 3 "no compose implementation: install the docker compose plugin or docker-compose (apt-get install docker-compose)"
  fi
  COMPOSE+=(-p "$NAME" -f "$COMPOSE_FILE")
}

# compose ARGS...: the compose implementation with this stack's project, file and environment.
compose() {
  resolve_compose
  "${COMPOSE[@]}" "$@"
}

# container_of SERVICE: the id of the service's container (empty when none).
container_of() { compose ps -q "$1" 2>/dev/null | head -n1; }

# port_in_use PORT: something on this machine accepts connections on it (any local address
# answers on 127.0.0.1 unless it binds another one only).
port_in_use() { timeout 2 bash -c ": </dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# check_port PORT VAR SERVICE: exit 3 when PORT is taken by anything but this stack's SERVICE.
check_port() {
  local port="$1" var="$2" service="$3" id
  port_in_use "$port" || return 0
  id="$(container_of "$service")"
  if [[ -n "$id" ]] && docker port "$id" 2>/dev/null | grep -q ":$port\$"; then return 0; fi
  die -c 3 "port $port is in use on this machine: set $var to a free port (the $service port of stack '$NAME')"
}

# frontend_answers: the Temporal frontend on the host port says SERVING.
frontend_answers() { timeout 10 "$CLI" operator cluster health --address "127.0.0.1:$PORT" 2>/dev/null | grep -q SERVING; }

# service_state SERVICE: "running", "healthy", "unhealthy", "starting", "exited N", or "missing".
service_state() {
  local id; id="$(container_of "$1")"
  [[ -n "$id" ]] || { echo missing; return; }
  docker inspect --format '{{.State.Status}}{{if .State.Health}} {{.State.Health.Status}}{{end}}{{if eq .State.Status "exited"}} {{.State.ExitCode}}{{end}}' "$id" 2>/dev/null || echo missing
}

# explain_failure: after `compose up` failed or the frontend stayed silent, one line naming the
# first service (in start order) that is not where it should be; exit 3.
explain_failure() {
  local pg schema temporal setup
  pg="$(service_state postgresql)"
  [[ "$pg" == "running healthy" ]] || die -c 3 "PostgreSQL not healthy (postgresql: $pg): see \`bash scripts/stack.sh compose logs postgresql\`"
  schema="$(service_state temporal-schema)"
  [[ "$schema" == "exited 0" ]] || die -c 3 "the Temporal schema setup did not complete (temporal-schema: $schema): see \`bash scripts/stack.sh compose logs temporal-schema\`"
  temporal="$(service_state temporal)"
  [[ "$temporal" == "running healthy" ]] || die -c 3 "Temporal not answering (temporal: $temporal): see \`bash scripts/stack.sh compose logs temporal\`"
  setup="$(service_state temporal-setup)"
  [[ "$setup" == "exited 0" ]] || die -c 3 "the namespace setup did not complete (temporal-setup: $setup): see \`bash scripts/stack.sh compose logs temporal-setup\`"
  die -c 3 "Temporal not answering on 127.0.0.1:$PORT although its container is healthy: see \`bash scripts/stack.sh compose logs temporal\`"
}

build_images() {
  local lines blocks
  lines="$(bash scripts/build-stack-images.sh)" || exit 3
  blocks="$(bash scripts/build-image.sh)" || die -c 3 "the blocks image could not be built (see above)"
  echo "$lines"
  echo "RAGOMICS_BLOCKS_IMAGE=$blocks"
}

cmd_up() {
  # ensure-docker.sh says in one line why no engine answers (exit 3).
  step_timer "Docker engine" bash scripts/ensure-docker.sh >/dev/null || exit 3
  check_port "$PORT" RAGOMICS_STACK_PORT temporal
  check_port "$UI_PORT" RAGOMICS_STACK_UI_PORT temporal-ui
  step_timer "npm packages" bash scripts/ensure-node-deps.sh
  if [[ ! -f dist/common/search-attributes.js ]]; then step_timer "build (tsc)" npx tsc -p tsconfig.json; fi
  local cli_line
  cli_line="$(bash scripts/ensure-temporal.sh --cli-only)" || die -c 3 "the temporal CLI could not be installed (see above)"
  CLI="${cli_line#TEMPORAL_CLI=}"
  if [[ "${RAGOMICS_STACK_LOCAL_IMAGES:-1}" != 0 ]]; then
    local lines line
    lines="$(step_timer "images" build_images)" || exit 3
    # The tags just built, unless set by hand.
    while IFS= read -r line; do
      local key="${line%%=*}"
      [[ -n "${!key:-}" ]] || export "$line"
    done <<<"$lines"
  fi
  mkdir -p "$STACK_DIR/workspace" "$STACK_DIR/data"
  local t0 rc=0
  t0="$(now_ms)"
  local deadline=$(( t0 + START_TIMEOUT * 1000 ))
  resolve_compose
  # `up -d` returns once every container started, having waited for each depends_on condition
  # (healthchecks, one-shots) on the way; bounded, since a dependency that never turns healthy
  # nor unhealthy would hold it forever. Its progress goes to stderr.
  step_timer "compose up" timeout -k 10 "$START_TIMEOUT" "${COMPOSE[@]}" up -d --remove-orphans >&2 || rc=$?
  [[ $rc == 0 ]] || explain_failure
  until frontend_answers; do
    (( $(now_ms) < deadline )) || explain_failure
    sleep 1
  done
  log "Temporal answers on 127.0.0.1:$PORT ($(format_ms $(( $(now_ms) - t0 ))) after compose up started)"
  step_timer "search attributes" node scripts/register-search-attributes.js "127.0.0.1:$PORT" "$NAMESPACE" \
    || die -c 3 "the search attributes could not be registered on 127.0.0.1:$PORT (see above)"
  echo "TEMPORAL_ADDRESS=127.0.0.1:$PORT"
  echo "RAGOMICS_STACK_UI=http://127.0.0.1:$UI_PORT"
}

cmd_down() {
  local args=(down --remove-orphans)
  case "${1:-}" in
    "") ;;
    --volumes) args+=(--volumes) ;;
    *) die -c 3 "stack.sh down: unknown argument '$1' (use --volumes)" ;;
  esac
  [[ $# -le 1 ]] || die -c 3 "stack.sh down: too many arguments"
  select_images
  step_timer "compose down" compose "${args[@]}" >&2
}

cmd_status() {
  select_images
  compose ps
  local cli_line
  cli_line="$(bash scripts/ensure-temporal.sh --cli-only)" || die -c 3 "the temporal CLI could not be installed (see above)"
  CLI="${cli_line#TEMPORAL_CLI=}"
  if frontend_answers; then echo "Temporal: SERVING on 127.0.0.1:$PORT"; else echo "Temporal: not answering on 127.0.0.1:$PORT"; fi
}

case "${1:-}" in
  up) shift; [[ $# -eq 0 ]] || die -c 3 "stack.sh up takes no arguments (settings are environment variables)"; cmd_up ;;
  down) shift; cmd_down "$@" ;;
  images) shift; [[ $# -eq 0 ]] || die -c 3 "stack.sh images takes no arguments"; build_images ;;
  compose) shift; select_images; compose "$@" ;;
  status) shift; cmd_status ;;
  *) die -c 3 "usage: bash scripts/stack.sh up | down [--volumes] | images | compose ARGS... | status" ;;
esac

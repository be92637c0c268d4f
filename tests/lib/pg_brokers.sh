# Several zsp-broker instances on one PostgreSQL store. Source after
# harness.sh and pg.sh.

# zsp_pg_broker_dir URI PERSON[:ROLES]...: initialises $ZSP_BROKER_DIR with
# store = URI and adds people (tokens in ZSP_TOKEN_<name>). A test policy
# may come in ZSP_POLICY.
zsp_pg_broker_dir() {
  local uri=$1
  shift
  ZSP_BROKER_DIR="$ZSP_TMP/broker"
  "$ZSP_BUILD/zsp-broker" init "$ZSP_BROKER_DIR" --host "$ZSP_HOST" \
    >"$ZSP_TMP/broker-init.log" 2>&1 ||
    { cat "$ZSP_TMP/broker-init.log" >&2; return 1; }
  echo "store = $uri" >>"$ZSP_BROKER_DIR/broker.conf"
  if [ -n "${ZSP_POLICY:-}" ]; then
    install -m 600 "$ZSP_POLICY" "$ZSP_BROKER_DIR/policy.toml" || return 1
  fi
  local spec name role token
  local -a roles
  for spec in "$@"; do
    name=${spec%%:*}
    roles=()
    if [ "$spec" != "$name" ]; then
      role=${spec#*:}
      for role in ${role//,/ }; do roles+=(--role "$role"); done
    fi
    token=$("$ZSP_BUILD/zsp-broker" user add "$ZSP_BROKER_DIR" "$name" \
      "${roles[@]}") || return 1
    printf -v "ZSP_TOKEN_$name" '%s' "$token"
  done
}

# zsp_pg_broker_start N [PORT]: starts instance N on the broker directory;
# sets ZSP_BROKER_URL_<N> and ZSP_BROKER_PID_<N>. PORT 0 (default) picks a
# free port.
zsp_pg_broker_start() {
  local n=$1 port=${2:-0} log="$ZSP_TMP/broker-$1.log" i line
  : >"$log"
  "$ZSP_BUILD/zsp-broker" serve "$ZSP_BROKER_DIR" \
    --listen "127.0.0.1:$port" 2>>"$log" &
  printf -v "ZSP_BROKER_PID_$n" '%s' "$!"
  for i in $(seq 200); do
    line=$(grep -m1 'listening on' "$log" 2>/dev/null || true)
    if [ -n "$line" ]; then
      printf -v "ZSP_BROKER_URL_$n" '%s' "${line##* }"
      return 0
    fi
    sleep 0.05
  done
  echo "pg_brokers: broker $n did not start:" >&2
  cat "$log" >&2
  return 1
}

# zsp_pg_broker_stop N: stops instance N and waits for it.
zsp_pg_broker_stop() {
  local var="ZSP_BROKER_PID_$1"
  [ -n "${!var:-}" ] || return 0
  kill "${!var}" 2>/dev/null
  wait "${!var}" 2>/dev/null
  printf -v "$var" '%s' ""
}

zsp_pg_broker_stop_all() {
  local n
  for n in 1 2 3; do zsp_pg_broker_stop "$n"; done
}

# zsp_api_batch TOKEN CONFIG: runs the curl config CONFIG (one section per
# call, built with zsp_api_call) on one keep-alive curl; prints response
# bodies on stdout and "STATUS URL" lines on stderr.
zsp_api_batch() {
  curl --no-progress-meter --config "$2"
}

# zsp_api_call TOKEN METHOD URL [BODY]: appends one curl config section.
zsp_api_call() {
  local token=$1 method=$2 url=$3 body=${4:-}
  printf 'next\n'
  printf 'cacert = "%s"\n' "$ZSP_BROKER_DIR/ca.pem"
  printf 'header = "Authorization: Bearer %s"\n' "$token"
  printf 'request = "%s"\n' "$method"
  if [ -n "$body" ]; then
    printf 'header = "Content-Type: application/json"\n'
    printf 'data = "%s"\n' "${body//\"/\\\"}"
  fi
  printf 'write-out = "%%{stderr}%%{http_code} %%{url}\\n"\n'
  printf 'url = "%s"\n' "$url"
}

# PostgreSQL clusters for integration tests. Source after harness.sh and
# call only inside zsp_private_system: each cluster runs as the test user
# "zsppg" (initdb refuses root), listens on 127.0.0.1 inside the test's
# network namespace, keeps its data under $ZSP_TMP and ends with the test.
# The system cluster is never touched.

ZSP_PG_BIN=${ZSP_PG_BIN:-/usr/lib/postgresql/15/bin}
ZSP_PG_USER=zsppg

# Creates the cluster owner and a CA with a server certificate for
# 127.0.0.1, so that clients can use sslmode=verify-full.
zsp_pg_setup() {
  id "$ZSP_PG_USER" >/dev/null 2>&1 || useradd -M -s /bin/sh "$ZSP_PG_USER"
  ZSP_PG_DIR="$ZSP_TMP/pg"
  install -d -m 755 -o "$ZSP_PG_USER" "$ZSP_PG_DIR"
  local tls="$ZSP_PG_DIR/tls"
  install -d -m 755 -o "$ZSP_PG_USER" "$tls"
  openssl req -x509 -newkey ed25519 -nodes -days 2 -subj "/CN=zsp test PG CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.pem" 2>/dev/null || return 1
  openssl req -newkey ed25519 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$tls/server.key" -out "$tls/server.csr" 2>/dev/null || return 1
  printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
    >"$tls/ext.cnf"
  openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" \
    -CAkey "$tls/ca.key" -CAcreateserial -days 2 -extfile "$tls/ext.cnf" \
    -out "$tls/server.pem" 2>/dev/null || return 1
  chown "$ZSP_PG_USER" "$tls/server.key" "$tls/server.pem"
  chmod 600 "$tls/server.key"
  ZSP_PG_CA="$tls/ca.pem"
}

zsp_pg_as() {
  runuser -u "$ZSP_PG_USER" -- "$@"
}

# zsp_pg_conf DATADIR PORT: settings shared by primary and standby.
zsp_pg_conf() {
  local data=$1 port=$2 tls="$ZSP_PG_DIR/tls"
  cat >>"$data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$ZSP_PG_DIR'
ssl = on
ssl_cert_file = '$tls/server.pem'
ssl_key_file = '$tls/server.key'
fsync = on
max_connections = 100
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 4
hot_standby = on
logging_collector = off
CONF
}

# zsp_pg_init NAME PORT: a new primary cluster with database "zsp". Sets
# ZSP_PG_URI to a verify-full TLS URI for it.
zsp_pg_init() {
  local name=$1 port=$2 data="$ZSP_PG_DIR/$1"
  zsp_pg_as "$ZSP_PG_BIN/initdb" -D "$data" -U postgres -E UTF8 \
    --auth-host=trust --auth-local=trust >"$ZSP_PG_DIR/$name-initdb.log" \
    2>&1 || { cat "$ZSP_PG_DIR/$name-initdb.log" >&2; return 1; }
  zsp_pg_conf "$data" "$port"
  # TLS is required for every TCP client; authentication is trust because
  # the cluster is reachable only inside the test's network namespace.
  cat >"$data/pg_hba.conf" <<HBA
local all all trust
local replication all trust
hostssl all all 127.0.0.1/32 trust
hostssl replication all 127.0.0.1/32 trust
HBA
  zsp_pg_start "$name" || return 1
  zsp_pg_as "$ZSP_PG_BIN/psql" -h "$ZSP_PG_DIR" -p "$port" -U postgres \
    -qc "CREATE DATABASE zsp" postgres >/dev/null || return 1
  ZSP_PG_URI="postgresql://postgres@127.0.0.1:$port/zsp?sslmode=verify-full&sslrootcert=$ZSP_PG_CA"
}

# zsp_pg_start NAME: starts the cluster and waits until it accepts
# connections.
zsp_pg_start() {
  local name=$1 data="$ZSP_PG_DIR/$1"
  zsp_pg_as "$ZSP_PG_BIN/pg_ctl" -D "$data" -l "$ZSP_PG_DIR/$name.log" -w \
    -t 30 start >/dev/null || { cat "$ZSP_PG_DIR/$name.log" >&2; return 1; }
}

# zsp_pg_stop NAME [MODE]: MODE immediate is a crash (no shutdown
# checkpoint, clients cut off).
zsp_pg_stop() {
  local name=$1 mode=${2:-fast}
  zsp_pg_as "$ZSP_PG_BIN/pg_ctl" -D "$ZSP_PG_DIR/$name" -m "$mode" -w \
    stop >/dev/null 2>&1
}

# zsp_pg_standby PRIMARY_PORT NAME PORT: a streaming replica of the primary
# on PRIMARY_PORT, made with pg_basebackup and started.
zsp_pg_standby() {
  local primary_port=$1 name=$2 port=$3 data="$ZSP_PG_DIR/$2"
  zsp_pg_as "$ZSP_PG_BIN/pg_basebackup" -D "$data" -h "$ZSP_PG_DIR" \
    -p "$primary_port" -U postgres -R -X stream --checkpoint=fast \
    >"$ZSP_PG_DIR/$name-basebackup.log" 2>&1 ||
    { cat "$ZSP_PG_DIR/$name-basebackup.log" >&2; return 1; }
  sed -i "s/^port = .*/port = $port/" "$data/postgresql.conf"
  echo "port = $port" >>"$data/postgresql.conf"
  echo "primary_conninfo = 'host=127.0.0.1 port=$primary_port user=postgres sslmode=verify-full sslrootcert=$ZSP_PG_CA application_name=$name'" \
    >>"$data/postgresql.auto.conf"
  zsp_pg_start "$name"
}

# zsp_pg_stop_all: stops every cluster under $ZSP_PG_DIR (for cleanup).
zsp_pg_stop_all() {
  local data
  for data in "$ZSP_PG_DIR"/*/; do
    [ -f "$data/postmaster.pid" ] || continue
    zsp_pg_as "$ZSP_PG_BIN/pg_ctl" -D "$data" -m immediate -w stop \
      >/dev/null 2>&1
  done
}

# zsp_pg_sql PORT SQL: runs SQL on database zsp as postgres; prints rows
# unaligned with '|' between columns.
zsp_pg_sql() {
  zsp_pg_as "$ZSP_PG_BIN/psql" -h "$ZSP_PG_DIR" -p "$1" -U postgres \
    -d zsp -XAtqc "$2"
}

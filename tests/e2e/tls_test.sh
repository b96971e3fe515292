#!/usr/bin/env bash
# End to end over TLS: a server started with a self-signed certificate for 127.0.0.1 (made here
# with the openssl CLI) serves the CLI over gRPC and curl over HTTPS; plaintext clients and
# clients that do not trust the certificate fail with a sentence that says so; bad TLS flags
# stop the server at start with a clear error.
SERVER=$1
CLI=$2
source "$(dirname "$0")/lib.sh"

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$work/key.pem" -out "$work/cert.pem" \
  >/dev/null 2>&1 || fail "openssl could not make a test certificate"

# Bad flags: the server refuses to start, in one sentence naming the flag.
server_must_fail() {
  local text=$1
  shift
  local rc=0
  "$SERVER" --listen 127.0.0.1:0 --data-dir "$work/refused" "$@" >"$work/refused.log" 2>&1 || rc=$?
  [[ $rc == 1 ]] || fail "expected exit 1 from the server with $*, got $rc: $(cat "$work/refused.log")"
  grep -qF -- "$text" "$work/refused.log" || fail "expected '$text' from the server with $*, got: $(cat "$work/refused.log")"
}
server_must_fail "--tls-cert and --tls-key go together" --tls-cert "$work/cert.pem"
server_must_fail "cannot read --tls-key $work/missing.pem" --tls-cert "$work/cert.pem" --tls-key "$work/missing.pem"
server_must_fail "is not a PEM file" --tls-cert "$work/key.pem" --tls-key "$work/key.pem"
openssl genrsa -out "$work/other-key.pem" 2048 >/dev/null 2>&1 || fail "openssl could not make a key"
server_must_fail "--tls-key $work/other-key.pem is not the private key of --tls-cert $work/cert.pem" \
  --tls-cert "$work/cert.pem" --tls-key "$work/other-key.pem"

start_server --http 127.0.0.1:0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
https=$(grep -o 'HTTP API on https://127.0.0.1:[0-9]*' "$work/server.log" | tail -n 1)
[[ -n "$https" ]] || fail "the server does not say it serves HTTPS"
https=${https#HTTP API on }

# gRPC over TLS: submit, watch the stream to the end, show.
export ABLATE_TLS_CA="$work/cert.pem"
job=$(must "$CLI" submit --name tls --steps 20 --init kaiming --owner ada)
[[ "$job" =~ ^[0-9]+$ ]] || fail "submit printed '$job', not a job id"
must "$CLI" watch "$job" >/dev/null
[[ $(job_field "$job" .state) == JOB_STATE_SUCCEEDED ]] || fail "job $job did not succeed over TLS"

# HTTPS: the same job, and a submit whose job the CLI then sees over gRPC.
got=$(curl -sS --fail --cacert "$work/cert.pem" "$https/api/v1/jobs/$job" | jq -r .owner) ||
  fail "GET over HTTPS failed"
[[ "$got" == ada ]] || fail "GET over HTTPS returned owner '$got'"
posted=$(curl -sS --fail --cacert "$work/cert.pem" -H 'Content-Type: application/json' \
  -d '{"owner":"bob","spec":{"name":"over https","training":{"steps":5},"runs":[{"init":"xavier"}]}}' \
  "$https/api/v1/jobs" | jq -r .job.id) || fail "POST over HTTPS failed"
[[ $(job_field "$posted" .owner) == bob ]] || fail "the job posted over HTTPS is not bob's"

# Clients that do not speak TLS, or do not trust the certificate, fail clearly.
must_fail 1 "closed the connection (if it serves TLS" env -u ABLATE_TLS_CA "$CLI" show "$job"
must_fail 1 "has a TLS certificate this client does not trust" \
  env -u ABLATE_TLS_CA "$CLI" --tls show "$job"
must_fail 2 "--tls-ca: cannot read $work/none.pem" "$CLI" --tls-ca "$work/none.pem" show "$job"
if curl -sS --max-time 10 "http://${https#https://}/healthz" >/dev/null 2>&1; then
  fail "plain HTTP was answered by the HTTPS server"
fi
if curl -sS --max-time 10 "$https/healthz" >/dev/null 2>&1; then
  fail "HTTPS without --cacert trusted the self-signed certificate"
fi

stop_server

# With users, signing in over HTTPS sets a Secure session cookie: a browser never sends it back
# over plain HTTP.
token=$("$SERVER" admin add-class cs101 --instructor carol --data-dir "$data_dir" |
  awk -F'\t' '$1 == "carol" { print $2 }')
[[ -n "$token" ]] || fail "admin add-class printed no token for carol"
start_server --http 127.0.0.1:0 --tls-cert "$work/cert.pem" --tls-key "$work/key.pem"
https=$(grep -o 'HTTP API on https://127.0.0.1:[0-9]*' "$work/server.log" | tail -n 1)
https=${https#HTTP API on }
cookie=$(curl -sS --cacert "$work/cert.pem" -o /dev/null -D - -X POST \
  -H "Authorization: Bearer $token" "$https/api/v1/session" | grep -i '^set-cookie:' || true)
[[ "$cookie" == *"ablate_token=$token;"* ]] || fail "no session cookie over HTTPS: '$cookie'"
[[ "$cookie" == *"; Secure"* ]] || fail "the session cookie over HTTPS is not Secure: '$cookie'"

stop_server
echo "PASS"

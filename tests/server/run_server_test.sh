#!/usr/bin/env bash
# Starts `mobiquant serve` on the shipped checkpoint at 127.0.0.1 on a free port, then runs one
# Node test script against it with the npm packages of NODE_DIR (the official openai client).
# usage: run_server_test.sh MOBIQUANT SOURCE_DIR NODE_DIR SCRIPT WORKDIR [serve options...]
set -uo pipefail
mq=$1 src=$2 node_dir=$3 script=$4 work=$5
shift 5
source "$(dirname "$0")/../support/program_test_env.sh"
export MOBIQUANT_VALIDATION=0  # the load test decodes thousands of steps
# lavapipe compiles each step size's pipelines in tens of seconds: the server tests share a
# pipeline cache in the build tree.
export MOBIQUANT_PIPELINE_CACHE=1 XDG_CACHE_HOME=$node_dir/../pipeline-cache
[ -d "$node_dir/node_modules/openai" ] || die "the openai package is not installed in $node_dir"

"$mq" serve -m "$src/assets/default-mobiquant.gguf" --port 0 --api-key test-key "$@" \
    > "$work/server.out" 2> "$work/server.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
url=
for _ in $(seq 1 600); do
    url=$(sed -n 's/^listening on //p' "$work/server.out")
    [ -n "$url" ] && break
    kill -0 $server 2>/dev/null || die "the server exited: $(cat "$work/server.err")"
    sleep 0.1
done
[ -n "$url" ] || die "the server did not start listening"
case "$url" in http://127.0.0.1:*) ;; *) die "the server listens on $url, not 127.0.0.1" ;; esac

# Node resolves packages next to the script: run a copy beside node_modules.
cp "$(dirname "$0")/$script" "$node_dir/$script"
MQ_URL=$url MQ_KEY=test-key node "$node_dir/$script" || die "$script failed (server log: $work/server.err)"
kill -0 $server 2>/dev/null || die "the server died: $(cat "$work/server.err")"
kill -INT $server
wait $server || die "the server did not stop cleanly"
trap - EXIT

# Sourced by tests/contract/run.sh and tests/client/run.sh: starts
# `target/debug/cfsign dev` on a free loopback port, writing its banner and
# log into the folder "$1", waits for the banner, stops it on exit, and sets
# `token` (the printed dev token), `base` (http://127.0.0.1:PORT) and `pid`.
dev_dir="$1"
banner="$dev_dir/banner.txt"
log="$dev_dir/cfsign.log"
rm -f "$banner" "$log"
target/debug/cfsign dev --listen 127.0.0.1:0 --log-format json >"$banner" 2>"$log" &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
# The banner is complete once its closing rule is printed (two rules).
for _ in $(seq 1 100); do
    [ "$(grep -c '^=========' "$banner" 2>/dev/null || true)" -ge 2 ] && break
    kill -0 "$pid" 2>/dev/null || { echo "cfsign dev exited:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
done
token=$(awk '/^Token for subject/ { getline; print; exit }' "$banner")
base=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$banner" | head -n 1)
if [ -z "$token" ] || [ -z "$base" ]; then
    echo "could not read the token and address from the dev banner:" >&2
    cat "$banner" "$log" >&2
    exit 1
fi

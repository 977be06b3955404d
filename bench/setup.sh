# Sourced by the benchmarks: hyperfine (from Debian when missing), a release build of pm in
# $pm (or $PM_BIN when set), a scratch folder in $work that is removed on exit, and a fixed git identity.
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v hyperfine >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
    else
        echo "hyperfine is needed: sudo apt-get install hyperfine" >&2
        exit 1
    fi
fi

if [ -n "${PM_BIN:-}" ]; then
    pm="$PM_BIN"   # a pm built elsewhere (or a debug build, for a quick look)
else
    cargo build --release --locked --manifest-path "$root/Cargo.toml" >/dev/null
    pm="${CARGO_TARGET_DIR:-$root/target}/release/pm"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com

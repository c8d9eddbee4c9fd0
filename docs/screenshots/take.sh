#!/usr/bin/env bash
# The README's screenshots of the web view: docs/screenshots/take.sh [BASE_URL] [USER_ID]
# Run against a worker fed as `make demo` feeds it (Last.fm, EMERGIFY and simulated listeners);
# needs chromium and pngquant (Debian packages of those names).
set -euo pipefail
base="${1:-http://127.0.0.1:6066}"
user="${2:-sim-user-1}"
dir="$(cd "$(dirname "$0")" && pwd)"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --user-data-dir="$profile" --hide-scrollbars --virtual-time-budget=5000 \
    --window-size=1000,720 --screenshot="$dir/$1.png" "$base$2" 2>/dev/null
  pngquant --force --strip --quality=50-80 --output "$dir/$1.png" "$dir/$1.png"
}
shot overview /
shot user "/users/$user/"
shot clusters /clusters/
shot search "/search?q=love"
du -ch "$dir"/*.png

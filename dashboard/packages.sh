# Sourced by build.sh and test.sh: installs the pinned packages (npm ci from package-lock.json)
# when node_modules is missing or was installed from another lock file.
install_packages() { # dashboard directory
  if [[ ! -d "$1/node_modules" ]] || ! cmp -s "$1/package-lock.json" "$1/node_modules/.installed-package-lock.json"; then
    echo "dashboard: npm ci" >&2
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error >&2)
    cp "$1/package-lock.json" "$1/node_modules/.installed-package-lock.json"
  fi
}

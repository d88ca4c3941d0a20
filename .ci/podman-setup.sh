#!/usr/bin/env bash
# Installs Podman and what it needs to run the agent's container-runtime tests
# on a Debian/Ubuntu CI machine. Idempotent: does nothing when podman exists.
# The tests build their own configuration, storage and image in a temp dir
# (packages/agent/test/support/podman.ts), so nothing is configured here.
set -euo pipefail

packages=(podman runc conmon slirp4netns fuse-overlayfs containernetworking-plugins busybox-static)

if command -v podman >/dev/null 2>&1; then
  echo "podman-setup: podman is already installed ($(podman --version)); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "podman-setup: podman is missing and apt-get is not available; podman tests will be skipped"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "podman-setup: podman is missing and this is not root (no sudo); podman tests will be skipped"
    exit 0
  fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "podman-setup: installing ${packages[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "podman-setup: installed $(podman --version)"

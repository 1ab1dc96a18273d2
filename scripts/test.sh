#!/usr/bin/env bash
# The test command of README.md: installs what the tests need where it is
# missing (scripts/needs.sh), then format, lints, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/needs.sh
install_needs
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked

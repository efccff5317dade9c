#!/usr/bin/env bash
# Builds the example WASM plugins and the hostile fixtures into OUTDIR/<name>.wasm.
#
#   bash plugins-wasm/build-examples.sh OUTDIR
#
# The file stem is the plugin name users type. Every module is checked with wasm-validate
# and reported as `built NAME (N bytes)`. An output newer than all of its sources (and this
# script) is not rebuilt. WAT (wabt) and C (clang + lld) are required; the Rust guest
# (cargo + the wasm32-unknown-unknown target) and AssemblyScript (node + npm) are optional:
# when their toolchain is missing the script prints `SKIPPED: <name>: <why>` and goes on.
#
# Nothing is written into the repository: Rust builds go to $WEIR_GUEST_TARGET_DIR (default
# ~/.cache/weir/guest-target; CARGO_TARGET_DIR is deliberately not used, so the guest build
# never waits on the host's build lock) with --locked; AssemblyScript is installed under
# $WEIR_NPM_DIR (default ~/.cache/weir/npm); temporary files go to OUTDIR under unique
# names and are renamed into place, so concurrent runs on one OUTDIR are safe.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/$(basename "${BASH_SOURCE[0]}")"
cache="${XDG_CACHE_HOME:-$HOME/.cache}"
rust_target_dir="${WEIR_GUEST_TARGET_DIR:-$cache/weir/guest-target}"
npm_dir="${WEIR_NPM_DIR:-$cache/weir/npm}"
asc_version="0.28.20"

if [[ $# -ne 1 || -z "$1" || "$1" == -* ]]; then
    echo "usage: bash plugins-wasm/build-examples.sh OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
out="$(cd "$1" && pwd)"

die() {
    echo "error: $*" >&2
    exit 1
}

need() { # tool, how to install
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (required): $2"
}
need wat2wasm "install wabt: sudo apt-get install -y --no-install-recommends wabt"
need wasm-validate "install wabt: sudo apt-get install -y --no-install-recommends wabt"
need clang "install clang and lld: sudo apt-get install -y --no-install-recommends clang lld"
command -v wasm-ld >/dev/null 2>&1 || command -v wasm-ld-14 >/dev/null 2>&1 ||
    die "wasm-ld not found (required by clang for wasm32): sudo apt-get install -y --no-install-recommends lld"

tmps=()
cleanup() { [[ ${#tmps[@]} -eq 0 ]] || rm -f "${tmps[@]}"; }
trap cleanup EXIT

# tmpfile NAME : sets $tmp to a temporary output path in OUTDIR unique to this run (removed
# on exit unless renamed into place)
tmpfile() {
    tmp="$out/.$1.$$.tmp.wasm"
    tmps+=("$tmp")
}

rebuilt=0
fresh_count=0
skipped=0

# fresh OUTPUT DEP... : the output exists and is newer than every dependency
fresh() {
    local target="$1" dep
    shift
    [[ -f "$target" ]] || return 1
    for dep in "$script" "$@"; do
        [[ "$dep" -nt "$target" ]] && return 1
    done
    return 0
}

# finish NAME TMPFILE : validates the freshly built TMPFILE and moves it to OUTDIR/NAME.wasm
finish() {
    local name="$1" tmp="$2"
    if ! wasm-validate "$tmp"; then
        rm -f "$tmp"
        die "$name: wasm-validate rejected the module"
    fi
    mv -f "$tmp" "$out/$name.wasm"
    rebuilt=$((rebuilt + 1))
    report "$name"
}

report() {
    echo "built $1 ($(stat -c %s "$out/$1.wasm") bytes)"
}

up_to_date() {
    # an existing output still has to be valid
    wasm-validate "$out/$1.wasm" || die "$1: wasm-validate rejected $out/$1.wasm (delete it to rebuild)"
    fresh_count=$((fresh_count + 1))
    report "$1"
}

skip() {
    echo "SKIPPED: $1: $2"
    skipped=$((skipped + 1))
}

# --- WAT: examples and hostile fixtures ---------------------------------------------------
build_wat() { # NAME SOURCE
    local name="$1" src="$2"
    if fresh "$out/$name.wasm" "$src"; then up_to_date "$name"; return; fi
    local tmp
    tmpfile "$name"
    wat2wasm "$src" -o "$tmp" || die "$name: wat2wasm failed on $src"
    finish "$name" "$tmp"
}

for name in identity drop-by-header; do
    build_wat "$name" "$here/examples/$name.wat"
done
for name in fx-infinite-loop fx-grow-forever fx-oob-pointer fx-wasi-import fx-stack-overflow; do
    build_wat "$name" "$here/fixtures/$name.wat"
done

# --- C ------------------------------------------------------------------------------------
header="$here/guest/c/weir_plugin.h"
for name in mask-json route-by-key http-post-sink counter-source; do
    src="$here/examples/$name.c"
    if fresh "$out/$name.wasm" "$src" "$header"; then up_to_date "$name"; continue; fi
    tmpfile "$name"
    clang --target=wasm32 -nostdlib -O2 -mbulk-memory -std=c11 -Wall -Wextra \
        -I "$here/guest/c" -Wl,--no-entry -Wl,--export-dynamic \
        -o "$tmp" "$src" || die "$name: clang failed on $src"
    finish "$name" "$tmp"
done

# --- AssemblyScript (optional) ------------------------------------------------------------
build_assemblyscript() {
    local name=value-contains src="$here/examples/value-contains.ts"
    local asc="$npm_dir/node_modules/.bin/asc"
    if fresh "$out/$name.wasm" "$src"; then up_to_date "$name"; return; fi
    if [[ ! -x "$asc" ]] || [[ "$("$asc" --version 2>/dev/null)" != "Version $asc_version" ]]; then
        if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
            skip "$name" "AssemblyScript needs node and npm, which are not installed"
            return
        fi
        echo "installing: npm install --prefix $npm_dir assemblyscript@$asc_version"
        mkdir -p "$npm_dir"
        if ! npm install --prefix "$npm_dir" --no-audit --no-fund --loglevel=error \
            "assemblyscript@$asc_version" >&2; then
            skip "$name" "npm install assemblyscript@$asc_version failed"
            return
        fi
    fi
    local tmp
    tmpfile "$name"
    "$asc" "$src" -o "$tmp" --runtime stub -O3 --use abort= || die "$name: asc failed on $src"
    finish "$name" "$tmp"
}
build_assemblyscript

# --- Rust (optional) ----------------------------------------------------------------------
build_rust() {
    local name=tag-header crate="$here/examples/rust-tag-header" guest="$here/guest/rust"
    local -a deps
    mapfile -t deps < <(find "$crate" "$guest" -type f \( -name '*.rs' -o -name 'Cargo.*' \) -not -path '*/target/*')
    if fresh "$out/$name.wasm" "${deps[@]}"; then up_to_date "$name"; return; fi
    if ! command -v cargo >/dev/null 2>&1; then
        skip "$name" "cargo is not installed (https://rustup.rs)"
        return
    fi
    if command -v rustup >/dev/null 2>&1; then
        if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
            echo "installing: rustup target add wasm32-unknown-unknown"
            if ! rustup target add wasm32-unknown-unknown >&2; then
                skip "$name" "rustup target add wasm32-unknown-unknown failed"
                return
            fi
        fi
    elif ! rustc --print target-list 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        skip "$name" "rustc cannot target wasm32-unknown-unknown and rustup is not installed"
        return
    fi
    if ! (cd "$crate" && CARGO_TARGET_DIR="$rust_target_dir" cargo build --quiet --locked \
        --release --target wasm32-unknown-unknown); then
        die "$name: cargo build failed in $crate"
    fi
    local tmp
    tmpfile "$name"
    cp "$rust_target_dir/wasm32-unknown-unknown/release/tag_header.wasm" "$tmp"
    finish "$name" "$tmp"
}
build_rust

echo "$((rebuilt + fresh_count)) modules in $out: $rebuilt rebuilt, $fresh_count up to date, $skipped skipped"

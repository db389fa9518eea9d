#!/usr/bin/env bash
# The Terraform providers rmqgen's module pins, built from source for the
# tests, laid out as a filesystem mirror that `terraform init` uses through a
# test-only CLI configuration (the generated versions.tf stays unchanged).
#
#   scripts/tf-providers.sh            build or reuse; prints MIRROR=DIR and
#                                      CLI_CONFIG=FILE (for TF_CLI_CONFIG_FILE)
#   scripts/tf-providers.sh schemas [DIR]
#                                      also write the trimmed provider schemas
#                                      (terraform providers schema -json) to
#                                      DIR (default tests/data)
#   scripts/tf-providers.sh --list     the providers: source, version, module
#
# Every provider comes from the Go module proxy (the only Go source CI
# machines reach): `go mod download -json MODULE@VERSION`, then `go build`
# inside a copy of the downloaded module (`go install mod@version` refuses a
# module whose go.mod has replace directives, and HashiCorp's random declares
# another module path than the one it is fetched by). The binaries land in
#
#   $CACHE/mirror/registry.terraform.io/NS/NAME/VERSION/linux_amd64/terraform-provider-NAME_vVERSION
#
# (and the same directories under registry.opentofu.org, for OpenTofu)
# keyed by version: a rerun reuses them (seconds), a cold machine builds
# them (minutes: the bpg provider is large). Builds run under `nice` and
# `flock /tmp/rmqgen-heavy.lock` (do not call this script while holding that
# lock; RMQGEN_HEAVY_LOCK_HELD=1 says the caller holds it). The module and
# build caches live under $CACHE too, so nothing lands in ~/go.
#
# The Terraform CLI: `terraform` on PATH when there is one. Without it
# (or with RMQGEN_FORCE_TOFU=1) OpenTofu is built the same way, from the
# Go module proxy, into $CACHE/tofu-vVERSION/tofu (Terraform itself cannot
# be: its go.mod replaces nested modules by local paths that the module zip
# leaves out). TERRAFORM= names the binary the tests run.
#
#   $RMQGEN_TF_CACHE   cache directory (default /var/cache/rmqgen/terraform)
#   $RMQGEN_FORCE_TOFU 1: use OpenTofu even when terraform is installed
#
# Needs go (1.26; GOTOOLCHAIN=local, nothing else is downloaded) and
# python3. Nothing fetched is ever committed.
set -euo pipefail

cd "$(dirname "$0")/.."

cache="${RMQGEN_TF_CACHE:-/var/cache/rmqgen/terraform}"
mirror="$cache/mirror"
cli_config="$cache/terraformrc"

# source|Go module|module version|provider version
#
# The provider versions are the ones src/render/terraform pins (`~> X.Y.Z`
# allows only X.Y.*, so what is tested here is what `terraform init` picks):
# - dmacvicar/libvirt 0.8.3: the 0.9 line declares the module path
#   github.com/dmacvicar/terraform-provider-libvirt/v2 while tagging v0.9.x,
#   so no Go module proxy serves it by tag: 0.9 cannot be built (nor proven)
#   here.
# - bpg/proxmox 0.111.1, the last 0.111 release.
# - hashicorp/random 3.9.0: tagged v3.x without a /v3 module path, so the
#   proxy serves it only by commit: the pseudo-version is the commit after
#   the v3.9.0 tag that the proxy holds (dependency updates only; its
#   .changes/unreleased is empty), built as 3.9.0.
PROVIDERS=(
    "dmacvicar/libvirt|github.com/dmacvicar/terraform-provider-libvirt|v0.8.3|0.8.3"
    "bpg/proxmox|github.com/bpg/terraform-provider-proxmox|v0.111.1|0.111.1"
    "hashicorp/random|github.com/hashicorp/terraform-provider-random|v1.3.2-0.20260824155315-e1092b0cfc07|3.9.0"
)

# OpenTofu, built when the machine has no terraform: its go.mod has only a
# module replace (hashicorp/hcl/v2 => opentofu/hcl/v2), which holds when
# building inside the downloaded module.
TOFU_MODULE=github.com/opentofu/opentofu
TOFU_VERSION=1.10.10

# The resource types rmqgen writes, per provider: the schemas keep only
# these (and the provider configuration).
declare -A RESOURCES=(
    [libvirt]="libvirt_cloudinit_disk libvirt_domain libvirt_volume"
    [proxmox]="proxmox_download_file proxmox_virtual_environment_file proxmox_virtual_environment_vm"
    [random]="random_password"
)

die() {
    printf 'tf-providers: %s\n' "$*" >&2
    exit 2
}

field() { cut -d'|' -f"$2" <<<"$1"; }

if [ "${1:-}" = --list ]; then
    for p in "${PROVIDERS[@]}"; do
        printf '%s %s %s@%s\n' "$(field "$p" 1)" "$(field "$p" 4)" "$(field "$p" 2)" "$(field "$p" 3)"
    done
    exit 0
fi
mode=build
schemas_dir=tests/data
case "${1:-}" in
    '') ;;
    schemas)
        mode=schemas
        schemas_dir="${2:-tests/data}"
        ;;
    *) die "unknown argument '$1' (usage: scripts/tf-providers.sh [schemas [DIR]] | --list)" ;;
esac

command -v go >/dev/null || die "go not found (Go 1.26 from go.dev or Debian's golang-go)"
command -v python3 >/dev/null || die "python3 not found"

export GOMODCACHE="$cache/gomod" GOCACHE="$cache/gocache" GOPATH="$cache/gopath"
export GOTOOLCHAIN=local GOFLAGS=-mod=mod GOPROXY="${GOPROXY:-https://proxy.golang.org}"
export CGO_ENABLED=0
mkdir -p "$mirror" "$GOMODCACHE" "$GOCACHE"

# One run at a time per cache.
exec 9>"$cache/.lock"
flock 9

heavy() {
    if [ "${RMQGEN_HEAVY_LOCK_HELD:-}" = 1 ]; then
        nice -n 10 "$@"
    else
        flock /tmp/rmqgen-heavy.lock nice -n 10 "$@"
    fi
}

download() { # MODULE VERSION: a writable copy of the module, in $cache
    local dir work
    dir="$(go mod download -json "$1@$2" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
    [ -d "$dir" ] || die "$1@$2: go mod download gave no directory"
    # The module cache is read-only, and the build may complete go.sum.
    work="$(mktemp -d "$cache/build.XXXXXX")"
    cp -r "$dir/." "$work/"
    chmod -R u+w "$work"
    printf '%s\n' "$work"
}

# The Terraform CLI the tests run: terraform on PATH, else OpenTofu built
# from source (cached by version).
terraform_cli() {
    local dest work start
    if [ "${RMQGEN_FORCE_TOFU:-}" != 1 ] && command -v terraform >/dev/null; then
        terraform_bin="$(command -v terraform)"
        return
    fi
    dest="$cache/tofu-v$TOFU_VERSION"
    terraform_bin="$dest/tofu"
    if [ -x "$terraform_bin" ]; then
        printf '%-18s %-8s cached (%s)\n' opentofu "$TOFU_VERSION" "$terraform_bin"
        return
    fi
    start=$SECONDS
    work="$(download "$TOFU_MODULE" "v$TOFU_VERSION")"
    printf '%-18s %-8s downloaded %s@v%s in %d s\n' opentofu "$TOFU_VERSION" "$TOFU_MODULE" "$TOFU_VERSION" $((SECONDS - start))
    start=$SECONDS
    # version.dev=no: a release build (`tofu version` says v1.10.10, not
    # v1.10.10-dev), as OpenTofu's own release does.
    (cd "$work" && heavy go build -trimpath \
        -ldflags "-s -w -X $TOFU_MODULE/version.dev=no" -o "$work/tofu" ./cmd/tofu)
    mkdir -p "$dest"
    mv -f "$work/tofu" "$terraform_bin.tmp"
    mv -f "$terraform_bin.tmp" "$terraform_bin"
    rm -rf "$work"
    printf '%-18s %-8s built in %d s (%s)\n' opentofu "$TOFU_VERSION" $((SECONDS - start)) "$terraform_bin"
}

# OpenTofu reads an unqualified source (`dmacvicar/libvirt`) as
# registry.opentofu.org/dmacvicar/libvirt: the same build serves it there,
# hard-linked (OpenTofu's mirror scan does not follow a symlinked version
# directory).
alias_for_tofu() { # NS NAME VERSION BIN
    local dest="$mirror/registry.opentofu.org/$1/$2/$3/linux_amd64"
    [ -L "$mirror/registry.opentofu.org/$1/$2/$3" ] && rm -f "$mirror/registry.opentofu.org/$1/$2/$3"
    mkdir -p "$dest"
    ln -f "$4" "$dest/${4##*/}"
}

build() { # LINE
    local src module modver version ns name dest bin start work
    src="$(field "$1" 1)"
    module="$(field "$1" 2)"
    modver="$(field "$1" 3)"
    version="$(field "$1" 4)"
    ns="${src%/*}"
    name="${src#*/}"
    dest="$mirror/registry.terraform.io/$ns/$name/$version/linux_amd64"
    bin="$dest/terraform-provider-${name}_v$version"
    if [ -x "$bin" ]; then
        printf '%-18s %-8s cached (%s)\n' "$src" "$version" "$bin"
        alias_for_tofu "$ns" "$name" "$version" "$bin"
        return
    fi
    start=$SECONDS
    work="$(download "$module" "$modver")"
    printf '%-18s %-8s downloaded %s@%s in %d s\n' "$src" "$version" "$module" "$modver" $((SECONDS - start))
    start=$SECONDS
    (cd "$work" && heavy go build -trimpath -ldflags "-s -w -X main.version=$version" \
        -o "$work/terraform-provider-${name}_v$version" .)
    mkdir -p "$dest"
    mv -f "$work/terraform-provider-${name}_v$version" "$bin.tmp"
    mv -f "$bin.tmp" "$bin"
    rm -rf "$work"
    printf '%-18s %-8s built in %d s (%s)\n' "$src" "$version" $((SECONDS - start)) "$bin"
    alias_for_tofu "$ns" "$name" "$version" "$bin"
}

total=$SECONDS
for p in "${PROVIDERS[@]}"; do
    build "$p"
done

# The CLI configuration: providers come only from the mirror (no direct
# installation, so a version versions.tf allows but the mirror lacks fails
# init instead of reaching for the registry), and no checkpoint calls.
cat >"$cli_config.tmp" <<EOF
# Written by rmqgen scripts/tf-providers.sh: Terraform providers only from
# the mirror built from source (TF_CLI_CONFIG_FILE, tests only).
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*", "registry.opentofu.org/*/*"]
  }
}
EOF
mv -f "$cli_config.tmp" "$cli_config"
printf 'providers ready in %d s\n' $((SECONDS - total))
terraform_cli

if [ "$mode" = schemas ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    {
        echo 'terraform {'
        echo '  required_providers {'
        for p in "${PROVIDERS[@]}"; do
            src="$(field "$p" 1)"
            printf '    %s = {\n      source  = "registry.terraform.io/%s"\n      version = "= %s"\n    }\n' \
                "${src#*/}" "$src" "$(field "$p" 4)"
        done
        echo '  }'
        echo '}'
    } >"$work/versions.tf"
    (cd "$work" && TF_CLI_CONFIG_FILE="$cli_config" CHECKPOINT_DISABLE=1 \
        "$terraform_bin" init -input=false -no-color >/dev/null &&
        TF_CLI_CONFIG_FILE="$cli_config" CHECKPOINT_DISABLE=1 \
            "$terraform_bin" providers schema -json >"$work/schema.json")
    mkdir -p "$schemas_dir"
    for p in "${PROVIDERS[@]}"; do
        src="$(field "$p" 1)"
        name="${src#*/}"
        out="$schemas_dir/$name-$(field "$p" 4).schema.json"
        # Only the resource types rmqgen writes and the provider block;
        # the schema nodes' descriptions dropped (the upstream docs have
        # them); sorted keys, one-space indent: regenerating gives the
        # same bytes.
        python3 - "$work/schema.json" "registry.terraform.io/$src" "$out" ${RESOURCES[$name]} <<'PY'
import json, sys

path, address, out, *types = sys.argv[1:]
with open(path) as f:
    schema = json.load(f)["provider_schemas"][address]

# Documentation keys of schema nodes (not attributes that happen to be
# named "description").
DOCS = ("description", "description_kind")

def plain(node, *skip):
    return {k: v for k, v in node.items() if k not in DOCS and k not in skip}

def attribute(a):
    out = plain(a, "nested_type")
    if "nested_type" in a:
        n = a["nested_type"]
        out["nested_type"] = dict(
            plain(n, "attributes"),
            attributes={k: attribute(v) for k, v in n["attributes"].items()},
        )
    return out

def block(b):
    out = plain(b, "attributes", "block_types")
    if "attributes" in b:
        out["attributes"] = {k: attribute(v) for k, v in b["attributes"].items()}
    if "block_types" in b:
        out["block_types"] = {
            k: dict(plain(v, "block"), block=block(v["block"]))
            for k, v in b["block_types"].items()
        }
    return out

def trim(schema):
    return dict(plain(schema, "block"), block=block(schema["block"]))

missing = [t for t in types if t not in schema["resource_schemas"]]
if missing:
    sys.exit(f"{address}: no resource type {missing}")
doc = {
    "provider": address,
    "provider_config": trim(schema["provider"]),
    "resource_schemas": {t: trim(schema["resource_schemas"][t]) for t in types},
}
with open(out, "w") as f:
    json.dump(doc, f, indent=1, sort_keys=True)
    f.write("\n")
PY
        printf 'wrote %s\n' "$out"
    done
fi

printf 'MIRROR=%s\nCLI_CONFIG=%s\nTERRAFORM=%s\n' "$mirror" "$cli_config" "$terraform_bin"

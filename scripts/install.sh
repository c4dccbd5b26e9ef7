#!/usr/bin/env bash
# Installs keyrot for the GitHub Action (action.yml): picks the release asset for this runner,
# downloads it over HTTPS, verifies its SHA-256, caches it in the runner's tool cache and puts
# it on PATH for the job's later steps. Runs under bash 3.2 (macOS) and Git bash (Windows).
#
# Inputs, from the environment (action.yml maps the action's inputs onto these):
#   KEYROT_INSTALL_VERSION      version to install, 1.2.3 or v1.2.3 (the action pins a default)
#   KEYROT_INSTALL_CHECKSUM     SHA-256 of this runner's asset; needed for a version that
#                               scripts/checksums.txt does not list
#   KEYROT_INSTALL_BINARY_PATH  use this keyrot instead of downloading one (self-hosted runners)
#   KEYROT_INSTALL_REPOSITORY   owner/name whose GitHub releases hold the assets; default: the
#                               action's own repository
#   KEYROT_INSTALL_ACTION_REPOSITORY  the action's repository as the runner reports it
#   KEYROT_CHECKSUMS_FILE       checksum list (default: checksums.txt beside this script)
# and the runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TOOL_CACHE, RUNNER_TEMP, GITHUB_PATH,
# GITHUB_OUTPUT, GITHUB_SERVER_URL, GITHUB_ACTION_REPOSITORY, GITHUB_ACTION_PATH.
#
# Outputs (to $GITHUB_OUTPUT): path (the binary), dir (its folder, now on PATH), version,
# cache-hit (true when the tool cache already held a verified copy).
# Exit status: 0 installed; 1 anything else, after an ::error:: line saying why.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHECKSUMS_FILE="${KEYROT_CHECKSUMS_FILE:-$SCRIPT_DIR/checksums.txt}"

# --- messages: workflow commands, escaped as the runner requires ---------------------------
escape_data() { # % CR LF in a command's message
  local s="$1"
  s="${s//\%/%25}"
  s="${s//$'\r'/%0D}"
  s="${s//$'\n'/%0A}"
  printf '%s' "$s"
}
die() {
  printf '::error title=keyrot install::%s\n' "$(escape_data "$*")"
  exit 1
}
warn() { printf '::warning title=keyrot install::%s\n' "$(escape_data "$*")"; }
notice() { printf '::notice title=keyrot install::%s\n' "$(escape_data "$*")"; }

trim() { # trim VALUE -> REPLY without leading/trailing whitespace
  local s="$1"
  s="${s#"${s%%[![:space:]]*}"}"
  s="${s%"${s##*[![:space:]]}"}"
  REPLY="$s"
}

is_windows() { [[ "${RUNNER_OS:-}" == "Windows" ]]; }

# A path as Windows programs read it (GITHUB_PATH is read by the runner, not by bash).
native_path() {
  if is_windows && command -v cygpath >/dev/null 2>&1; then cygpath -w "$1"; else printf '%s' "$1"; fi
}
# A path both bash and Windows programs accept (C:/x/y), for step outputs.
mixed_path() {
  if is_windows && command -v cygpath >/dev/null 2>&1; then cygpath -m "$1"; else printf '%s' "$1"; fi
}
# A path bash can open, from a user's input that may be C:\x\y on Windows.
posix_path() {
  if is_windows && command -v cygpath >/dev/null 2>&1; then cygpath -u "$1"; else printf '%s' "$1"; fi
}

if command -v sha256sum >/dev/null 2>&1; then
  SHA256_TOOL=(sha256sum)
elif command -v shasum >/dev/null 2>&1; then
  SHA256_TOOL=(shasum -a 256) # macOS
else
  die "neither sha256sum nor shasum is available to verify the download"
fi
sha256_of() { # sha256_of FILE -> lower-case hex on stdout (read from stdin: no file-name escaping)
  local out
  out="$("${SHA256_TOOL[@]}" <"$1")" || return 1
  printf '%s' "${out%%[[:space:]]*}" | tr 'ABCDEF' 'abcdef'
}

write_outputs() { # write_outputs BIN DIR VERSION CACHE_HIT
  local bin dir
  bin="$(mixed_path "$1")"
  dir="$(native_path "$2")"
  if [[ -n "${GITHUB_PATH:-}" ]]; then
    printf '%s\n' "$dir" >>"$GITHUB_PATH"
  else
    notice "GITHUB_PATH is not set (not on a GitHub runner?): add $dir to PATH yourself"
  fi
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    {
      printf 'path=%s\n' "$bin"
      printf 'dir=%s\n' "$dir"
      printf 'version=%s\n' "$3"
      printf 'cache-hit=%s\n' "$4"
    } >>"$GITHUB_OUTPUT"
  fi
}

trim "${KEYROT_INSTALL_CHECKSUM:-}"
checksum_input="$(printf '%s' "$REPLY" | tr 'ABCDEF' 'abcdef')"
if [[ -n "$checksum_input" && ! "$checksum_input" =~ ^[0-9a-f]{64}$ ]]; then
  die "checksum must be a SHA-256 digest (64 hex digits), not '$checksum_input'"
fi

# --- binary-path: use a keyrot that is already on this machine ------------------------------
trim "${KEYROT_INSTALL_BINARY_PATH:-}"
if [[ -n "$REPLY" ]]; then
  given="$REPLY"
  bin="$(posix_path "$given")"
  [[ -e "$bin" ]] || die "binary-path '$given' does not exist"
  [[ -f "$bin" ]] || die "binary-path '$given' is not a file"
  [[ -x "$bin" ]] || die "binary-path '$given' is not executable (chmod +x it)"
  if [[ -n "$checksum_input" ]]; then
    actual="$(sha256_of "$bin")" || die "could not hash binary-path '$given'"
    [[ "$actual" == "$checksum_input" ]] ||
      die "checksum mismatch for binary-path '$given': expected $checksum_input, got $actual"
  fi
  dir="$(cd "$(dirname "$bin")" && pwd)"
  bin="$dir/$(basename "$bin")"
  write_outputs "$bin" "$dir" "" false
  echo "keyrot: using $bin (binary-path; nothing downloaded)"
  exit 0
fi

# --- which asset ---------------------------------------------------------------------------
case "${RUNNER_OS:-}" in
Linux) os=linux ;;
macOS) os=macos ;;
Windows) os=windows ;;
'') die "RUNNER_OS is not set: this script runs on GitHub Actions runners (or set binary-path)" ;;
*) die "unsupported runner OS '${RUNNER_OS}': keyrot is released for Linux, macOS and Windows; set binary-path to a keyrot built for it" ;;
esac
case "${RUNNER_ARCH:-}" in
X64) arch=x64 ;;
ARM64) arch=arm64 ;;
'') die "RUNNER_ARCH is not set: this script runs on GitHub Actions runners (or set binary-path)" ;;
*) die "unsupported runner architecture '${RUNNER_ARCH}' on $RUNNER_OS: keyrot is released for X64 and ARM64; set binary-path to a keyrot built for it" ;;
esac
asset_arch="$arch"
exe=""
if [[ "$os" == windows ]]; then
  exe=".exe"
  if [[ "$arch" == arm64 ]]; then
    # No native Windows arm64 build is released; Windows 11 on arm64 runs x64 binaries.
    asset_arch=x64
    notice "no windows-arm64 build is released: using keyrot-windows-x64.exe under x64 emulation"
  fi
fi
asset="keyrot-$os-$asset_arch$exe"

# --- which version, which digest ------------------------------------------------------------
trim "${KEYROT_INSTALL_VERSION:-}"
version="${REPLY#v}"
[[ -n "$version" ]] || die "version is empty: give a release version such as 0.1.0 (or set binary-path)"
if [[ ! "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  die "version '$version' is not a release version (MAJOR.MINOR.PATCH, optionally -PRERELEASE)"
fi

entry="v$version/$asset"
listed=""
if [[ -f "$CHECKSUMS_FILE" ]]; then
  # Lines: "<sha256>  v<version>/<asset>"; '#' starts a comment. Every match must agree.
  listed="$(awk -v want="$entry" '
    /^[[:space:]]*#/ || NF == 0 { next }
    NF == 2 && $2 == want { print tolower($1) }
  ' "$CHECKSUMS_FILE" | sort -u)"
  if [[ "$listed" == *$'\n'* ]]; then
    die "$(basename "$CHECKSUMS_FILE") lists different checksums for $entry; refusing to guess"
  fi
  if [[ -n "$listed" && ! "$listed" =~ ^[0-9a-f]{64}$ ]]; then
    die "$(basename "$CHECKSUMS_FILE") has a malformed checksum for $entry: '$listed'"
  fi
fi

if [[ -n "$checksum_input" ]]; then
  if [[ -n "$listed" && "$listed" != "$checksum_input" ]]; then
    die "the checksum input ($checksum_input) disagrees with $(basename "$CHECKSUMS_FILE") for $entry ($listed); refusing to install"
  fi
  expected="$checksum_input"
elif [[ -n "$listed" ]]; then
  expected="$listed"
else
  die "no checksum for $entry in scripts/checksums.txt, and no checksum input: nothing to verify the download against. Use a version that scripts/checksums.txt lists, or set version together with checksum (the SHA-256 of $asset from that release's checksums.txt), or set binary-path to a keyrot already on the runner"
fi

# --- the tool cache -------------------------------------------------------------------------
cache_root="${RUNNER_TOOL_CACHE:-}"
if [[ -z "$cache_root" ]]; then
  cache_root="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/keyrot-tool-cache"
  notice "RUNNER_TOOL_CACHE is not set: caching in $cache_root"
fi
cache_root="$(posix_path "$cache_root")"
dir="$cache_root/keyrot/$version/$arch"
bin="$dir/keyrot$exe"

if [[ -f "$bin" ]]; then
  cached="$(sha256_of "$bin" || true)"
  if [[ "$cached" == "$expected" ]]; then
    [[ -x "$bin" ]] || chmod +x "$bin"
    write_outputs "$bin" "$dir" "$version" true
    echo "keyrot $version: using the tool cache, $bin (sha256 $expected)"
    exit 0
  fi
  warn "the cached $bin does not match the expected checksum (got ${cached:-nothing}); removing it and downloading again"
  rm -f "$bin" "$dir.complete"
fi

# --- download -------------------------------------------------------------------------------
repo=""
for candidate in "${KEYROT_INSTALL_REPOSITORY:-}" "${KEYROT_INSTALL_ACTION_REPOSITORY:-}" "${GITHUB_ACTION_REPOSITORY:-}"; do
  trim "$candidate"
  if [[ -n "$REPLY" ]]; then
    repo="$REPLY"
    break
  fi
done
if [[ -z "$repo" ]]; then
  # Composite actions may see an empty action repository; the runner keeps a downloaded action
  # under .../_actions/<owner>/<name>/<ref>.
  action_path="${GITHUB_ACTION_PATH:-}"
  action_path="${action_path//\\//}"
  if [[ "$action_path" =~ /_actions/([^/]+)/([^/]+)/ ]]; then
    repo="${BASH_REMATCH[1]}/${BASH_REMATCH[2]}"
  fi
fi
[[ -n "$repo" ]] || die "cannot tell which repository's releases hold keyrot: set the repository input (owner/name), or binary-path"
[[ "$repo" =~ ^[A-Za-z0-9][A-Za-z0-9-]*/[A-Za-z0-9._-]+$ ]] || die "repository '$repo' is not owner/name"

server="${GITHUB_SERVER_URL:-https://github.com}"
server="${server%/}"
[[ "$server" == https://* ]] || die "GITHUB_SERVER_URL '$server' is not https; refusing to download over it"
url="$server/$repo/releases/download/v$version/$asset"

tmp_root="$(posix_path "${RUNNER_TEMP:-${TMPDIR:-/tmp}}")"
work="$(mktemp -d "$tmp_root/keyrot-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
download="$work/$asset"

echo "keyrot $version: downloading $url"
rc=0
curl --proto '=https' --tlsv1.2 -fsSL \
  --retry 5 --retry-delay 2 --retry-connrefused \
  --connect-timeout 30 --max-time 600 \
  -o "$download" "$url" || rc=$?
if [[ $rc -ne 0 ]]; then
  die "download failed (curl exit $rc): $url. Does release v$version exist with asset $asset?"
fi
[[ -s "$download" ]] || die "download of $url is empty"

actual="$(sha256_of "$download")" || die "could not hash the download"
if [[ "$actual" != "$expected" ]]; then
  die "checksum mismatch for $asset v$version from $url: expected $expected, got $actual. Nothing was installed."
fi

mkdir -p "$dir"
staged="$dir/.keyrot$exe.$$"
cp "$download" "$staged"
chmod +x "$staged"
mv -f "$staged" "$bin"
: >"$dir.complete" # the marker actions/tool-cache looks for

write_outputs "$bin" "$dir" "$version" false
echo "keyrot $version: installed $bin (sha256 $expected)"

# What the tests need besides cargo, as "command debian-package" pairs: the
# one list that scripts/test.sh and .ci/run both install from, so that they
# cannot drift. Sourced, not run.
NEEDS=(
  "go golang-go"                          # builds the Go sample apps; go tool pprof is the reference
  "prometheus prometheus"                 # real Prometheus over a TSDB ...
  "promtool prometheus"                   # ... built with promtool
  "node nodejs"                           # Node sample apps, real heap snapshots
  "javac openjdk-17-jdk-headless"         # Java sample apps ...
  "jcmd openjdk-17-jdk-headless"          # ... dumped with jcmd
  "python3 python3"                       # tracemalloc snapshots, CPython's compare_to, the pty helper
  "curl curl"                             # the Python helper served to curl
  "gzip gzip"                             # gzipped snapshots
)

# Installs every package whose command is missing. As root it runs apt-get
# (as .ci/run does on a fresh machine); otherwise it names what is missing
# and exits 3, since the tests would fail rather than skip without them.
install_needs() {
  local missing=() pair
  for pair in "${NEEDS[@]}"; do
    command -v "${pair%% *}" >/dev/null || missing+=("${pair##* }")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "the tests need: ${missing[*]}; install them (apt-get install -y ${missing[*]}) or run as root" >&2
    exit 3
  fi
  echo "installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

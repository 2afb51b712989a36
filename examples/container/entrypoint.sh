#!/bin/sh
# Container entrypoint: gets the service's secrets from the secrets broker, then replaces itself with
# `secrets-fetch exec`, which runs the image's command with the secrets in that process's environment only and
# replaces every value with *** in its stdout and stderr. No secrets, no start: any failure ends the container
# before the command runs. Reference: README.md, "Containers and CircleCI".
#
# Configuration, from the container's environment:
#   SECRETS_FETCH_BROKER      the broker's URL, such as https://secrets.example.com (required)
#   SECRETS_FETCH_SECRETS     the entries secrets-fetch --secret takes (NAME, ENV=NAME, PREFIX/*, a|b, NAME?),
#                             separated by spaces or newlines (required)
#   SECRETS_FETCH_TOKEN_ENV   the name of the variable that holds the OIDC ID token, or
#   SECRETS_FETCH_TOKEN_FILE  the file that holds it: exactly one of the two. The token must be minted with the
#                             broker's audience, and is accepted once: give each start a fresh one.
#   SECRETS_FETCH_BIN         the secrets-fetch command (default: secrets-fetch, found on PATH)
#
# Exit status: 2 the configuration is incomplete (nothing fetched or started); otherwise secrets-fetch exec's:
# 1 the fetch failed (the command did not start), 127 or 126 the command cannot run (found out before any token
# is spent), else the command's own status, 128 + N when signal N ended it.
set -eu

fail() {
  printf 'secrets entrypoint: %s; nothing was fetched and the command was not started\n' "$1" >&2
  exit 2
}

[ "$#" -gt 0 ] || fail 'no command to run: give the image a CMD, or the command after the image name'
[ -n "${SECRETS_FETCH_BROKER-}" ] ||
  fail "SECRETS_FETCH_BROKER is not set: set it to the broker's URL, such as https://secrets.example.com"
[ -n "${SECRETS_FETCH_SECRETS-}" ] ||
  fail 'SECRETS_FETCH_SECRETS is not set: list the secrets the command needs, such as "prod/api/DB_PASSWORD API_TOKEN=prod/api/token"'

if [ -n "${SECRETS_FETCH_TOKEN_ENV-}" ] && [ -n "${SECRETS_FETCH_TOKEN_FILE-}" ]; then
  fail 'both SECRETS_FETCH_TOKEN_ENV and SECRETS_FETCH_TOKEN_FILE are set: set the one that holds the OIDC ID token'
elif [ -n "${SECRETS_FETCH_TOKEN_ENV-}" ]; then
  token_option="--token-env=$SECRETS_FETCH_TOKEN_ENV"
elif [ -n "${SECRETS_FETCH_TOKEN_FILE-}" ]; then
  token_option="--token-file=$SECRETS_FETCH_TOKEN_FILE"
else
  fail 'neither SECRETS_FETCH_TOKEN_ENV nor SECRETS_FETCH_TOKEN_FILE is set: name the variable or the file that holds an OIDC ID token minted with the broker'"'"'s audience'
fi

fetch="${SECRETS_FETCH_BIN:-secrets-fetch}"
case "$fetch" in
  */*) [ -f "$fetch" ] && [ -x "$fetch" ] ;;
  *) command -v "$fetch" >/dev/null 2>&1 ;;
esac || fail 'secrets-fetch is not an executable command (SECRETS_FETCH_BIN, default secrets-fetch on PATH): install it in the image as the example Dockerfile does'

# The arguments become: the command, the options, "--", then the command again, moved behind the options one by
# one (the only list a POSIX shell has is "$@"). "--opt=value" keeps a value starting with "-" a value.
command_words=$#
set -- "$@" "--broker=$SECRETS_FETCH_BROKER" "$token_option"
entries=0
set -f # a PREFIX/* entry is the broker's pattern, not a file name pattern
for entry in $SECRETS_FETCH_SECRETS; do
  set -- "$@" "--secret=$entry"
  entries=$((entries + 1))
done
set +f
[ "$entries" -gt 0 ] || fail 'SECRETS_FETCH_SECRETS lists no secret: list the secrets the command needs'
set -- "$@" --
while [ "$command_words" -gt 0 ]; do
  set -- "$@" "$1"
  shift
  command_words=$((command_words - 1))
done

# exec: secrets-fetch takes this process's place (PID 1 in a container without an init), forwards SIGTERM and
# the other stop signals to the command, and exits with its status.
exec "$fetch" exec "$@"

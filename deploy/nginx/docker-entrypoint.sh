#!/bin/sh
# Renders the site configuration for PARLEY_DOMAIN, checks it, then runs nginx in the
# foreground (PID 1: SIGTERM makes nginx stop at once, SIGQUIT gracefully). A background loop
# reloads nginx every 12 hours so a certificate renewed by the pki service is picked up.
set -eu

domain="${PARLEY_DOMAIN:-localhost}"
case "${domain}" in
  *[!a-z0-9.-]* | '') echo "nginx: PARLEY_DOMAIN '${domain}' is not a lower-case DNS name" >&2; exit 1 ;;
esac

mkdir -p /tmp/nginx/conf.d
sed "s/\${PARLEY_DOMAIN}/${domain}/g" /etc/nginx/parley.conf.template >/tmp/nginx/conf.d/parley.conf

if [ "${1:-}" = "nginx" ]; then
  nginx -t -q -e stderr
  (
    while sleep "${PARLEY_NGINX_RELOAD_SECS:-43200}"; do
      nginx -s reload || true
    done
  ) &
fi
exec "$@"

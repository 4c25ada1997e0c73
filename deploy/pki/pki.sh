#!/bin/sh
# The "pki" service of the scaled set-up (docker-compose.yaml, profile "scale"). It runs in the
# Parley image as user parley, with the "pki" volume at /data, and keeps there:
#
#   ca.pem, ca.key      the CA the Parley instances issue their site certificates from (T7):
#                       a copy of the operator's CA certificate when PARLEY__CA_CERT/_KEY are given
#                       (deploy/compose.ca.yaml; the operator's key is never copied), otherwise
#                       a CA made once with `parley cert ca`, name-constrained to PARLEY_DOMAIN
#   nginx/site.pem,     nginx's certificate for PARLEY_DOMAIN from that CA (`parley cert issue`,
#   nginx/site.key      the T6 profile, 90 days); the key is 0640 for group parley (nginx's)
#
# It re-issues nginx's certificate when the domain or the CA changed or when it is older than
# 60 days (30 of its 90 days left), checks every 12 hours, and stays running so compose can wait
# for it to be healthy (a site.pem present).
set -eu

domain="${PARLEY_DOMAIN:-localhost}"
out=/data
umask 027
chmod 0750 "${out}"

if [ -n "${PARLEY__CA_CERT:-}" ]; then
  ca_cert="${PARLEY__CA_CERT}"
  ca_key="${PARLEY__CA_KEY:?PARLEY__CA_KEY must be given with PARLEY__CA_CERT}"
  # nginx trusts this copy to verify the instances.
  if ! cmp -s "${ca_cert}" "${out}/ca.pem"; then
    cp "${ca_cert}" "${out}/ca.pem.tmp" && chmod 0644 "${out}/ca.pem.tmp" && mv "${out}/ca.pem.tmp" "${out}/ca.pem"
  fi
  rm -f "${out}/ca.key"
  echo "pki: using the operator's CA ${ca_cert}"
else
  ca_cert="${out}/ca.pem"
  ca_key="${out}/ca.key"
  if [ ! -s "${ca_cert}" ] || [ ! -s "${ca_key}" ]; then
    rm -f "${ca_cert}" "${ca_key}"
    parley cert ca --domain "${domain}" --out "${out}"
  fi
  echo "pki: using the CA in the pki volume (copy it out: docker compose cp pki:/data/ca.pem .)"
fi

issue() {
  rm -rf "${out}/nginx.new"
  parley cert issue --ca-cert "${ca_cert}" --ca-key "${ca_key}" --domain "${domain}" --out "${out}/nginx.new"
  chmod 0640 "${out}/nginx.new/site.key"
  chmod 0750 "${out}/nginx.new"
  printf '%s\n' "${domain}" >"${out}/nginx.new/domain"
  cp "${ca_cert}" "${out}/nginx.new/issuer.pem"
  rm -rf "${out}/nginx.old"
  if [ -d "${out}/nginx" ]; then mv "${out}/nginx" "${out}/nginx.old"; fi
  mv "${out}/nginx.new" "${out}/nginx"
  rm -rf "${out}/nginx.old"
}

check() {
  if [ ! -s "${out}/nginx/site.pem" ] ||
    [ "$(cat "${out}/nginx/domain" 2>/dev/null)" != "${domain}" ] ||
    ! cmp -s "${ca_cert}" "${out}/nginx/issuer.pem" ||
    [ -n "$(find "${out}/nginx/site.pem" -mtime +60)" ]; then
    issue
  else
    echo "pki: nginx's certificate for ${domain} is current"
  fi
}

check
trap 'exit 0' TERM INT
while :; do
  sleep "${PARLEY_PKI_CHECK_SECS:-43200}" &
  wait $! || true
  check
done

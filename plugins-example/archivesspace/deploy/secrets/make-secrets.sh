#!/bin/sh
# Writes the secrets compose.yaml and stack.yml read, as files, into this folder (or $SECRETS_DIR):
# random values for passwords and shared secrets, db_url built from the MySQL password. Existing
# files are kept, so running it again never changes a secret a deployment already uses.
# The SAML key and certificate are your identity provider registration's: copy them in as
# oauth_saml_key and oauth_saml_cert (PEM), or this writes a self-signed pair with openssl.
set -eu
dir=${SECRETS_DIR:-$(dirname "$0")}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { head -c 48 /dev/urandom | base64 | tr -d '/+=\n' | head -c 40; }

put() { # put NAME VALUE: write a secret unless it exists; 0644 so uid 1000 in the container reads it
  [ -e "$dir/$1" ] && return 0
  printf '%s' "$2" >"$dir/$1.tmp" && chmod 0644 "$dir/$1.tmp" && mv "$dir/$1.tmp" "$dir/$1"
  echo "wrote $dir/$1"
}

put mysql_root_password "$(random)"
put mysql_password "$(random)"
put db_url "jdbc:mysql://db:3306/archivesspace?user=as&password=$(cat "$dir/mysql_password")&useUnicode=true&characterEncoding=UTF-8"
for s in frontend_cookie_secret public_cookie_secret search_user_secret public_user_secret \
         staff_user_secret default_admin_password oauth_shared_secret; do
  put "$s" "$(random)"
done
if [ ! -e "$dir/oauth_saml_key" ] && [ ! -e "$dir/oauth_saml_cert" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=archivesspace" \
    -keyout "$dir/oauth_saml_key" -out "$dir/oauth_saml_cert" 2>/dev/null
  chmod 0644 "$dir/oauth_saml_key" "$dir/oauth_saml_cert"
  echo "wrote a self-signed $dir/oauth_saml_key and oauth_saml_cert: replace them with your IdP registration's"
fi

#!/usr/bin/env bash
# make-test-certs.sh: a test CA and certificates signed by it, with the openssl command.
#
#   scripts/make-test-certs.sh DIR NAME...
#
# Writes DIR/ca.pem (and ca.key), and for each NAME a NAME.pem and NAME.key whose subject
# alternative names are DNS:NAME, DNS:localhost and IP:127.0.0.1, usable by a server and
# a client alike (serverAuth, clientAuth): a node's certificate for its client ports and
# its peer port (a peer's certificate must name its member: its name or its id), or a
# client's certificate for --client-cert-auth. Keys are EC P-256, unencrypted; the
# certificates are valid for 30 days. For tests and trying things out, not production.
# A DIR that already holds ca.pem keeps its CA, so certificates can be added later.
set -euo pipefail

if [ $# -lt 1 ]; then
	echo "usage: $0 DIR [NAME...]" >&2
	exit 2
fi
dir=$1
shift
mkdir -p "$dir"
cd "$dir"
umask 077

if [ ! -f ca.pem ]; then
	openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout ca.key -out ca.pem -days 30 -subj "/CN=Concord test CA $$-$RANDOM" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

for name in "$@"; do
	case "$name" in
	*/* | "" | .*) echo "$0: bad name '$name'" >&2; exit 2 ;;
	esac
	openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-keyout "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
	cat >"$name.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1
EXT
	openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out "$name.pem" -days 30 -extfile "$name.ext" 2>/dev/null
	rm -f "$name.csr" "$name.ext"
done
chmod 644 ./*.pem

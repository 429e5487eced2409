# peer_forge.py: forged peer traffic for tests/cluster/peer_auth.sh: well-formed Raft frames
# (a TIMEOUT_NOW, an APPEND of a high term with an entry, a VOTE) sent to a node's peer port
# from sockets that (a) speak the plain handshake, (b) answer the challenge without the
# secret, (c) know the secret but send messages claiming another member. Prints what each
# socket got back; the shell test checks that no node's state moved.
import hashlib, hmac, os, socket, struct, sys, time

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def field(num, v):
    return varint(num << 3) + varint(v)

def lenfield(num, data):
    return varint((num << 3) | 2) + varint(len(data)) + data

def message(mtype, frm, to, term, index=0, log_term=0, commit=0, entries=()):
    body = field(1, mtype) + field(2, frm) + field(3, to) + field(4, term)
    if index:
        body += field(5, index)
    if log_term:
        body += field(6, log_term)
    if commit:
        body += field(7, commit)
    for (eterm, eindex, data) in entries:
        e = field(1, eterm) + field(2, eindex) + field(3, 1) + lenfield(4, data)
        body += lenfield(14, e)
    return struct.pack("<I", len(body)) + body

def hello(version, cluster, frm, to):
    return struct.pack("<I", 32) + struct.pack("<IHBBQQQ", 0x44434E43, version, 1, 0, cluster, frm, to)

def proof(secret, role, cluster, dialer, acceptor, nd, na):
    data = b"concord-peer-v2" + role + struct.pack("<QQQ", cluster, dialer, acceptor) + nd + na
    return hmac.new(secret, data, hashlib.sha256).digest()

def recv_some(s, n, wait=2.0):
    s.settimeout(wait)
    buf = b""
    try:
        while len(buf) < n:
            got = s.recv(n - len(buf))
            if not got:
                break
            buf += got
    except (socket.timeout, ConnectionError):
        pass
    return buf

def forged(to, leader, commit):
    # Follow with what a forger wants: leadership on demand, a term far ahead, an entry.
    return (message(9, leader, to, 1000) +
            message(5, leader, to, 1000, index=commit, log_term=1, commit=commit + 1,
                    entries=[(1000, commit + 1, b"\x00forged")]) +
            message(3, leader, to, 2000, index=commit + 100, log_term=2000))

def main():
    port, cluster, to, leader, commit = (int(x) for x in sys.argv[1:6])
    secret = open(sys.argv[6], "rb").read().rstrip(b"\r\n")
    addr = ("127.0.0.1", port)
    # (a) the plain handshake: the cluster id is all it knows.
    s = socket.create_connection(addr, timeout=5)
    s.sendall(hello(1, cluster, leader, to) + forged(to, leader, commit))
    r = recv_some(s, 36)
    print("plain:", "refused" if len(r) == 36 and r[10] == 3 else "reply %r" % r[:16])
    s.close()
    # (b) the authenticated handshake with a guessed secret.
    s = socket.create_connection(addr, timeout=5)
    nd = os.urandom(32)
    s.sendall(hello(2, cluster, leader, to) + struct.pack("<I", 32) + nd)
    ch = recv_some(s, 68)
    ok = len(ch) == 68 and hmac.compare_digest(ch[36:], proof(secret, b"A", cluster, leader, to, nd, ch[4:36]))
    bad = proof(b"not the secret, just a guess", b"D", cluster, leader, to, nd, ch[4:36])
    s.sendall(struct.pack("<I", 32) + bad + forged(to, leader, commit))
    r = recv_some(s, 36)
    print("guess:", "acceptor-proved" if ok else "no-proof",
          "refused" if len(r) == 36 and r[10] == 3 else "reply %r" % r[:16])
    s.close()
    # (c) the secret, authenticated as member 9 (not in the cluster), claiming the leader.
    s = socket.create_connection(addr, timeout=5)
    nd = os.urandom(32)
    s.sendall(hello(2, cluster, 9, to) + struct.pack("<I", 32) + nd)
    ch = recv_some(s, 68)
    s.sendall(struct.pack("<I", 32) + proof(secret, b"D", cluster, 9, to, nd, ch[4:36]))
    r = recv_some(s, 36)
    accepted = len(r) == 36 and r[10] == 2
    s.sendall(forged(to, leader, commit))
    time.sleep(0.5)
    print("secret-as-9:", "accepted" if accepted else "not-accepted %r" % r[:16])
    s.close()

try:
    main()
except (ConnectionError, OSError) as e:
    print("connection:", e)

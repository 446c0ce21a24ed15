"""One TCP session over loopback with known byte counts, for tcpperpid.
  server: listens on 127.0.0.1 (ephemeral port), prints "PORT <port>", accepts one connection,
          reads 1000 bytes, sends 3000, waits for the client's close (EOF), then closes (passively).
  client <port>: connects, sends 1000 bytes, reads 3000, closes first. Prints "PID <pid>" first."""
import os
import socket
import sys


def recv_exactly(s, n):
    got = 0
    while got < n:
        b = s.recv(n - got)
        if not b:
            raise SystemExit("short read")
        got += len(b)


if sys.argv[1] == "server":
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    print(f"PORT {srv.getsockname()[1]}", flush=True)
    c, _ = srv.accept()
    recv_exactly(c, 1000)
    c.sendall(b"s" * 3000)
    assert c.recv(1) == b""
    c.close()
else:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    s.sendall(b"c" * 1000)
    recv_exactly(s, 3000)
    s.close()

"""PCP QA 1286's exchange, written anew with plain sockets: over loopback, one call each way.

  server: binds TCP and UDP on 127.0.0.1 (ephemeral ports), prints "PORTS <tcp> <udp>", then
          TCP: recv 11 bytes, send them back + " reply" (17); UDP: recvfrom 16, reply 22.
  client <tcp> <udp>: TCP send "testmsg TCP" (11), recv the 17-byte reply;
          UDP send "test UDP message" (16), recv the 22-byte reply.
Each side makes exactly one successful send and one receive per protocol. The client reads
until it has the whole reply, but loopback delivers it in one segment: one recv call.
"""
import socket
import sys


def server():
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    t.listen(1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    print(f"PORTS {t.getsockname()[1]} {u.getsockname()[1]}", flush=True)
    c, _ = t.accept()
    data = c.recv(100)
    c.send(data + b" reply")
    c.close()
    data, addr = u.recvfrom(100)
    u.sendto(data + b" reply", addr)
    u.close()
    t.close()


def client(tport, uport):
    t = socket.create_connection(("127.0.0.1", tport))
    t.send(b"testmsg TCP")
    assert len(t.recv(100)) == 17
    t.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"test UDP message", ("127.0.0.1", uport))
    assert len(u.recv(100)) == 22
    u.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    else:
        client(int(sys.argv[2]), int(sys.argv[3]))

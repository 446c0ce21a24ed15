"""Connection churn for netproc's bounded map: `procs` child processes, each opening `conns`
TCP connections to the parent over loopback and sending one byte on each; the parent accepts
and reads them. Prints "CHILD <pid>" per child, then "DONE". Each child makes exactly `conns`
successful one-byte sends."""
import os
import socket
import sys
import threading

procs, conns, parallel = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(1024)
port = srv.getsockname()[1]
total = procs * conns


def serve():
    for _ in range(total):
        c, _ = srv.accept()
        c.recv(1)
        c.close()


t = threading.Thread(target=serve)
t.start()
running = []
for i in range(procs):
    if len(running) >= parallel:
        os.waitpid(running.pop(0), 0)
    pid = os.fork()
    if pid == 0:
        for _ in range(conns):
            s = socket.create_connection(("127.0.0.1", port))
            s.send(b"x")
            s.close()
        os._exit(0)
    print(f"CHILD {pid}", flush=True)
    running.append(pid)
for pid in running:
    os.waitpid(pid, 0)
t.join()
print("DONE", flush=True)

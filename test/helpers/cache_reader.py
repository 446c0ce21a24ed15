"""Page cache workload for cachestat, one phase per line read on stdin, "ok" after each:
  cold <file>   drop <file>'s pages (posix_fadvise DONTNEED: that file only), read it in 64 KiB reads
  warm <file>   read it again (all hits)
  write <file> <bytes>  write a new file in 64 KiB writes, no fsync (dirties its pages)
  quit"""
import os
import sys

for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "quit":
        break
    if cmd[0] in ("cold", "warm"):
        fd = os.open(cmd[1], os.O_RDONLY)
        if cmd[0] == "cold":
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 65536):
            pass
        os.close(fd)
    elif cmd[0] == "write":
        fd = os.open(cmd[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        left = int(cmd[2])
        while left > 0:
            left -= os.write(fd, b"w" * min(65536, left))
        os.close(fd)
    print("ok", flush=True)

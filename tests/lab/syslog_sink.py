#!/usr/bin/env python3
"""A syslog sink for one lab load balancer: HAProxy logs to /dev/log, which
in its chroot is /var/lib/haproxy/dev/log (Debian's unit bind-mounts the
host's /dev/log there). The lab gives each load balancer its own directory
there and this sink writes every datagram to a file, prefixed with the
time it arrived (s since the epoch), so DOWN/UP events can be timed.

Usage: syslog_sink.py SOCKET_PATH OUT_FILE MAX_SECONDS
"""

import os
import socket
import sys
import time


def main():
    path, out, max_s = sys.argv[1], sys.argv[2], float(sys.argv[3])
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # HAProxy sends after dropping privileges to its own user: the socket
    # is created writable for everyone (umask 0 for the bind), so it is
    # never there without being usable.
    old_umask = os.umask(0)
    try:
        s.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o666)
    s.settimeout(1.0)
    deadline = time.monotonic() + max_s
    with open(out, "a", encoding="utf-8", buffering=1) as f:
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except socket.timeout:
                continue
            f.write("%.3f %s\n" % (time.time(), data.decode("utf-8", "replace").rstrip("\n")))


if __name__ == "__main__":
    main()

"""Seed 001's server, in Python (standard library only), on a selectors readiness loop.

Listens on 127.0.0.1 (a free port), prints "serving on 127.0.0.1:PORT", then for each client
reads one message (up to 1 KiB), prints "received from ADDR: MESSAGE", answers
b"Hello from server!" and closes. It exits after COUNT clients (forever if COUNT is 0).

    python3 hello_server.py [COUNT]
"""

import selectors
import socket
import sys

ANSWER = b"Hello from server!"


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    sel = selectors.DefaultSelector()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ)
    host, port = server.getsockname()
    print(f"serving on {host}:{port}", flush=True)
    served = 0
    while count == 0 or served < count:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is server:
                try:
                    conn, addr = server.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, addr)
                print(f"new connection from {addr[0]}:{addr[1]}", flush=True)
                continue
            addr = key.data
            try:
                data = sock.recv(1024)
            except BlockingIOError:
                continue
            except ConnectionError:
                data = b""
            print(f"received from {addr[0]}:{addr[1]}: {data.decode(errors='replace')}",
                  flush=True)
            sel.unregister(sock)
            if data:
                # Blocking for the short answer: the send buffer has room for it.
                sock.setblocking(True)
                sock.sendall(ANSWER)
            sock.close()
            served += 1
    sel.close()
    server.close()


if __name__ == "__main__":
    main()

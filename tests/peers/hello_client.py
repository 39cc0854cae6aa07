"""Seed 001's client, in Python (standard library only).

Opens N connections (20 by default) to HOST:PORT first, then sends a message on each, then
reads each answer until the server closes it, and prints the answers. Exits with status 1 if an
answer was not b"Hello from server!".

    python3 hello_client.py HOST PORT [N]
"""

import socket
import sys

ANSWER = b"Hello from server!"


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    clients = [socket.create_connection((host, port), timeout=60) for _ in range(n)]
    for i, client in enumerate(clients):
        client.sendall(f"hello from client number {i}".encode())
    wrong = 0
    for i, client in enumerate(clients):
        answer = b""
        while True:
            chunk = client.recv(1024)
            if not chunk:
                break
            answer += chunk
        client.close()
        print(f"answer {i}: {answer.decode(errors='replace')}")
        if answer != ANSWER:
            wrong += 1
    if wrong:
        print(f"{wrong} of {n} answers were not {ANSWER!r}", file=sys.stderr)
        sys.exit(1)
    print(f'{n} connections, every answer was "{ANSWER.decode()}"')


if __name__ == "__main__":
    main()

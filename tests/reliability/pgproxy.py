"""A TCP proxy in front of PostgreSQL that the fault suite can cut: PostgreSQL "unreachable" for a few seconds.

``python tests/reliability/pgproxy.py LISTEN_PORT TARGET_HOST:TARGET_PORT CONTROL_DIR``. While the file
``CONTROL_DIR/pg-down`` exists every open connection is closed and new ones are closed on accept (what a client sees
when the database host drops off the network and comes back), so the suite never stops the shared server itself.
Once every connection open when the flag appeared is closed, the proxy writes ``CONTROL_DIR/pg-down.done`` (and
removes it when the flag goes), so the suite knows the cut has taken effect before it measures anything.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys
import threading
import time
from pathlib import Path

CHECK_SECONDS = 0.05


class Proxy:
    def __init__(self, listen_port: int, target: tuple[str, int], control: Path) -> None:
        self.target, self.down_flag, self.done_flag = target, control / "pg-down", control / "pg-down.done"
        self.server = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
        self.pairs: set[tuple[socket.socket, socket.socket]] = set()
        self.lock = threading.Lock()

    def down(self) -> bool:
        return self.down_flag.exists()

    def serve(self) -> None:
        threading.Thread(target=self._watch, daemon=True).start()
        while True:
            client, _ = self.server.accept()
            if self.down():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self.lock:
                self.pairs.add(pair)
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _watch(self) -> None:
        """Close every connection as soon as the flag appears."""
        while True:
            if self.down():
                with self.lock:
                    pairs, self.pairs = self.pairs, set()
                for pair in pairs:
                    self._close(pair)
                self.done_flag.touch()
            else:
                self.done_flag.unlink(missing_ok=True)
            time.sleep(CHECK_SECONDS)

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, upstream)
        selector.register(upstream, selectors.EVENT_READ, client)
        try:
            while True:
                for key, _ in selector.select(timeout=1):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            with self.lock:
                self.pairs.discard(pair)
            self._close(pair)

    @staticmethod
    def _close(pair: tuple[socket.socket, socket.socket]) -> None:
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def main() -> None:
    listen_port, target, control = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    host, _, port = target.rpartition(":")
    Proxy(listen_port, (host, int(port)), control).serve()


if __name__ == "__main__":
    main()

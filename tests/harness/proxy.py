"""A unix-socket proxy in front of a real Engine that lets a test act when a given
request passes: kill the daemon mid-audit, remove a container between list and inspect.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

# Called with each chunk the client sends; return True to drop the connection instead
# of forwarding the chunk.
Hook = Callable[[bytes], bool]


class InterceptingProxy:
    def __init__(self, path: str, upstream: str, hook: Hook) -> None:
        self.path, self.upstream, self.hook = path, upstream, hook
        self.url = f"unix://{path}"
        self.server = socket.socket(socket.AF_UNIX)
        self.server.bind(path)
        self.server.listen(32)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        up = socket.socket(socket.AF_UNIX)
        try:
            up.connect(self.upstream)
        except OSError:
            client.close()
            return

        def back() -> None:
            try:
                while data := up.recv(65536):
                    client.sendall(data)
            except OSError:
                pass
            client.close()

        threading.Thread(target=back, daemon=True).start()
        try:
            while data := client.recv(65536):
                if self.hook(data):
                    break
                up.sendall(data)
        except OSError:
            pass
        up.close()
        client.close()

    def close(self) -> None:
        self.server.close()

    def __enter__(self) -> InterceptingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

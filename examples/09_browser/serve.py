"""Serve the browser example (or any page) on 127.0.0.1: the page, an edgeprep export and onnxruntime-web.

Usage: python examples/09_browser/serve.py out/digits-dist [--port 8000]
then open http://127.0.0.1:8000/. The export is served under /model/ and onnxruntime-web's
files (from node_modules, after `make clients`) under /ort/, all from one origin as the browser
requires for the .wasm files. Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ORT_WEB = REPO / "node_modules" / "onnxruntime-web" / "dist"
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".onnx": "application/octet-stream"}


class MountHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from several directories, each under its URL prefix ("/" last)."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def __init__(self, *args, mounts: Mapping[str, Path], **kwargs):
        self.mounts = sorted(mounts.items(), key=lambda item: -len(item[0]))
        super().__init__(*args, directory=str(mounts["/"]), **kwargs)

    def translate_path(self, path: str) -> str:
        for prefix, directory in self.mounts:
            if prefix != "/" and path.startswith(prefix):
                self.directory = str(directory)
                return super().translate_path("/" + path[len(prefix):])
        return super().translate_path(path)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class' name
        pass


def example_mounts(export_dir: Path) -> dict[str, Path]:
    """This example's page at /, the export at /model/, onnxruntime-web at /ort/."""
    if not (ORT_WEB / "ort.wasm.min.mjs").is_file():
        raise SystemExit(f"{ORT_WEB}: onnxruntime-web is not installed; run `make clients` (npm ci) first")
    return {"/": HERE, "/model/": Path(export_dir), "/ort/": ORT_WEB}


@contextlib.contextmanager
def serving(mounts: Mapping[str, Path], port: int = 0) -> Iterator[str]:
    """Serve ``mounts`` (URL prefix -> directory, "/" required) on 127.0.0.1 in a thread; yields the base URL."""
    handler = functools.partial(MountHandler, mounts=dict(mounts))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir", type=Path, help="an `edgeprep export --target onnx` directory")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with serving(example_mounts(args.export_dir), args.port) as url:
        print(f"serving {args.export_dir} on {url} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()

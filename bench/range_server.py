#!/usr/bin/env python3
"""A loopback file server for bench/download.sh: GET and HEAD with a single
`Range: bytes=N-[M]`, ETag and If-Range, the body sent with sendfile(2) so
the server is not the bottleneck the way http.server's copy loop is.

Usage: range_server.py PORT DIR
"""
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _open(self):
        name = os.path.basename(self.path.split("?", 1)[0])
        path = os.path.join(sys.argv[2], name)
        if not name or not os.path.isfile(path):
            self.send_error(404)
            return None
        return path

    def _plan(self, size, etag):
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if not rng or not rng.startswith("bytes=") or (if_range and if_range != etag):
            return 200, 0, size
        start, _, end = rng[len("bytes="):].partition("-")
        start = int(start)
        end = min(int(end) + 1, size) if end else size
        if start >= size or start >= end:
            return 416, 0, 0
        return 206, start, end

    def _head(self, send_body):
        path = self._open()
        if path is None:
            return
        st = os.stat(path)
        etag = '"%x-%x"' % (st.st_size, int(st.st_mtime))
        status, start, end = self._plan(st.st_size, etag)
        self.send_response(status)
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if status == 416:
            self.send_header("Content-Range", "bytes */%d" % st.st_size)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end - 1, st.st_size))
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if send_body:
            with open(path, "rb") as f:
                self.connection.sendfile(f, start, end - start)

    def do_HEAD(self):
        self._head(False)

    def do_GET(self):
        self._head(True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

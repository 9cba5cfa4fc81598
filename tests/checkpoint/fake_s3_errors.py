#!/usr/bin/env python3
"""A tiny HTTP server that answers like a failing S3 endpoint, for the checkpoint storage error-path tests.

The bucket (first path segment) picks the behaviour:
  /down/...   always 503 SlowDown             (retried, then BackendUnavailable)
  /auth/...   always 403 SignatureDoesNotMatch (not retried, access denied)
  /flaky/...  503 for the first two requests of a path, then 200 with body b"hello" (retry succeeds)
Usage: fake_s3_errors.py PORT
"""
import http.server
import sys

COUNTS = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        bucket = self.path.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        COUNTS[self.path] = COUNTS.get(self.path, 0) + 1
        if bucket == "down" or (bucket == "flaky" and COUNTS[self.path] <= 2):
            status, body = 503, b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        elif bucket == "auth":
            status, body = 403, b"<Error><Code>SignatureDoesNotMatch</Code><Message>bad signature</Message></Error>"
        else:
            status, body = 200, b"hello"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = _answer

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

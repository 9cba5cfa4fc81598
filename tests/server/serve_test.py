#!/usr/bin/env python3
"""`ringkernel serve` end to end: starts on a free port, every endpoint family answers a real client, usage
errors exit 2 with a message, SIGTERM stops it with exit code 0."""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringkernel", required=True)
    ap.add_argument("--backend", default=None, help="run the demo behind the server on this backend")
    a = ap.parse_args()
    backend = ["--backend", a.backend] if a.backend else []

    bad = subprocess.run([a.ringkernel, "serve", "--port", "70000"], capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "invalid value '70000' for --port" in bad.stderr, bad.stderr
    bad = subprocess.run([a.ringkernel, "serve", "--address", "0.0.0.0", "--port", "0"], capture_output=True,
                         text=True, timeout=10, env={k: v for k, v in os.environ.items() if k != "RINGKERNEL_TOKEN"})
    assert bad.returncode == 1 and "requires a bearer token" in bad.stderr, bad.stderr

    with tempfile.TemporaryDirectory() as d:
        port_file = os.path.join(d, "port")
        p = subprocess.Popen([a.ringkernel, "serve", "--port", "0", "--port-file", port_file, "--rate", "1000"] + backend,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 15
            while not os.path.exists(port_file):
                assert p.poll() is None and time.time() < deadline, "serve did not start"
                time.sleep(0.02)
            port = int(open(port_file).read())
            base = "http://127.0.0.1:%d" % port

            def get(path):
                try:
                    with urllib.request.urlopen(base + path, timeout=5) as r:
                        return r.status, r.read().decode()
                except urllib.error.HTTPError as e:
                    return e.code, e.read().decode()

            assert get("/health/live")[0] == 200
            deadline = time.time() + 15
            while get("/health/ready")[0] != 200:
                assert time.time() < deadline, get("/health/ready")
                time.sleep(0.1)
            names = {x["name"] for x in json.loads(get("/api/actors")[1])["actors"]}
            assert {"aggregate", "flaky", "transform", "ingest-0", "ingest-1"} <= names, names
            status, metrics = get("/metrics")
            assert status == 200 and 'ringkernel_actor_messages_processed_total{actor="aggregate"' in metrics
            assert get("/")[0] == 200
            # Throughput is real: the aggregate's processed count grows.
            def processed():
                return json.loads(get("/api/actors/aggregate")[1])["metrics"]["processed"]
            before = processed()
            time.sleep(0.5)
            assert processed() > before, "the demo pipeline is not running"
        finally:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=20)
        assert p.returncode == 0, "exit %d\n%s\n%s" % (p.returncode, out, err)
        assert "listening on http://127.0.0.1:%d" % port in out, out
        assert "SIGTERM received" in err, err
    print("serve_test.py: ok" + (" (backend %s)" % a.backend if a.backend else ""))


if __name__ == "__main__":
    main()

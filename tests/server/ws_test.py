#!/usr/bin/env python3
"""WebSocket integration tests of `ringkernel serve`, with a real client library (websocket-client, pinned in
scripts/requirements.txt). Each ctest runs one case against its own server on a free port:

    ws_test.py --ringkernel build/ringkernel --case call_and_send
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

try:
    import websocket  # websocket-client
except ImportError:
    sys.exit("ws_test.py: the Python package websocket-client is missing: "
             "python3 -m pip install -r scripts/requirements.txt")


class Serve:
    """`ringkernel serve --port 0` in the background; the port comes back through --port-file."""

    def __init__(self, binary, *extra):
        self.dir = tempfile.TemporaryDirectory()
        port_file = os.path.join(self.dir.name, "port")
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--port-file", port_file, "--rate", "500",
                                      "--seconds", "120", *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.time() + 15
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("serve did not start: " + (self.proc.stdout.read() if self.proc.stdout else ""))
            time.sleep(0.02)
        with open(port_file) as f:
            self.port = int(f.read())
        self.base = "ws://127.0.0.1:%d" % self.port

    def http(self, path, token=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path))
        if token:
            req.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()

    def close(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("serve did not stop within 15 s of SIGTERM")
        out = self.proc.stdout.read()
        assert rc == 0, "serve exited with %d:\n%s" % (rc, out)
        self.dir.cleanup()


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def connect(srv, path="/api/ws", **kw):
    ws = websocket.create_connection(srv.base + path, timeout=5, **kw)
    hello = json.loads(ws.recv())
    check(hello["type"] == "connected" and hello["protocol"] == 1, "first message must be 'connected': %r" % hello)
    return ws, hello


SKIPPED = []  # events that arrived while request() waited for an answer


def request(ws, cmd, want_type=None, timeout=5):
    """Sends a command and returns the answer with the same id (events in between go to SKIPPED)."""
    ws.send(json.dumps(cmd))
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("type") in ("event", "gap"):
            SKIPPED.append(msg)
            continue
        check(msg.get("id") == cmd.get("id"), "answer id %r != request id %r: %r" % (msg.get("id"), cmd.get("id"), msg))
        if want_type:
            check(msg["type"] == want_type, "expected %s, got %r" % (want_type, msg))
        return msg
    raise AssertionError("no answer to %r" % cmd)


def case_connected_and_ping(binary):
    srv = Serve(binary)
    try:
        ws, hello = connect(srv)
        check(hello["topics"] == [], "WebSocket sessions start unsubscribed: %r" % hello)
        pong = request(ws, {"v": 1, "id": "p1", "op": "ping"}, "pong")
        check(pong["time_ms"] > 0, "pong carries the server time")
        ws.close()
    finally:
        srv.close()


def case_call_and_send(binary):
    srv = Serve(binary)
    try:
        ws, _ = connect(srv)
        r = request(ws, {"id": 1, "op": "call", "actor": "aggregate", "type": "rk.demo.Query", "payload": {}}, "reply")
        check(r["message"]["type"] == "rk.demo.Snapshot", "reply decoded by registered type: %r" % r)
        first = r["message"]["payload"]["accepted"]
        r = request(ws, {"id": 2, "op": "call", "actor": "aggregate", "type": "rk.demo.SensorQuery",
                         "payload": {"sensor": 3}, "timeout_ms": 2000}, "reply")
        check(r["message"]["payload"]["sensor"] == 3, "typed call round trip: %r" % r)
        a = request(ws, {"id": 3, "op": "send", "actor": "ingest-0", "type": "rk.demo.RawReading",
                         "payload": {"sensor": 1, "seq": 1, "raw": 100}}, "ack")
        check(a["op"] == "send", "send is acknowledged: %r" % a)
        # By id, with a base64 payload (Query is 4 zero bytes).
        actors = json.loads(srv.http("/api/actors")[1])["actors"]
        agg_id = [x["id"] for x in actors if x["name"] == "aggregate"][0]
        time.sleep(0.3)
        r = request(ws, {"id": 4, "op": "call", "actor": agg_id, "type": "rk.demo.Query", "payload_b64": "AAAAAA=="}, "reply")
        check(r["message"]["payload"]["accepted"] > first, "the pipeline is moving (%d -> %d)" % (first, r["message"]["payload"]["accepted"]))
        check(len(r["message"]["payload_b64"]) > 0, "replies carry the raw bytes too")
        ws.close()
    finally:
        srv.close()


def case_subscribe_events(binary):
    srv = Serve(binary, "--stats-ms", "200")
    try:
        ws, _ = connect(srv)
        a = request(ws, {"id": "s", "op": "subscribe", "topics": ["stats", "custom"]}, "ack")
        check(set(a["topics"]) == {"stats", "custom"}, "ack lists the subscription: %r" % a)
        seen = set()
        deadline = time.time() + 5
        last_id = 0
        while time.time() < deadline and seen != {"stats", "custom/progress"}:
            m = json.loads(ws.recv())
            check(m["type"] == "event", "only events expected: %r" % m)
            check(m["event_id"] > last_id, "event ids increase")
            last_id = m["event_id"]
            check(m["topic"] in ("stats", "custom/progress"), "filtered: %r" % m["topic"])
            seen.add(m["topic"])
            if m["topic"] == "stats":
                check(any(x["name"] == "aggregate" for x in m["data"]["actors"]), "stats list the actors")
        check(seen == {"stats", "custom/progress"}, "got both topics: %r" % seen)
        a = request(ws, {"id": "u", "op": "unsubscribe", "topics": ["stats", "custom"]}, "ack")
        check(a["topics"] == [], "nothing left: %r" % a)
        ws.settimeout(1.0)
        try:
            m = json.loads(ws.recv())
            check(m["type"] != "event", "no events after unsubscribe: %r" % m)
        except websocket.WebSocketTimeoutException:
            pass
    finally:
        srv.close()


def case_lifecycle(binary):
    srv = Serve(binary)
    try:
        ws, _ = connect(srv)
        request(ws, {"id": 1, "op": "subscribe", "topics": ["lifecycle"]}, "ack")
        a = request(ws, {"id": 2, "op": "lifecycle", "actor": "transform", "action": "deactivate"}, "ack")
        check(a["action"] == "deactivate", "%r" % a)
        def is_deactivation(m):
            return m["type"] == "event" and m["data"]["kind"] == "deactivated" and m["data"]["name"] == "transform"
        # The ack waits (briefly) for the new state, so the event may arrive before it.
        got = next((m for m in SKIPPED if is_deactivation(m)), None)
        deadline = time.time() + 5
        while time.time() < deadline and got is None:
            m = json.loads(ws.recv())
            if is_deactivation(m):
                got = m
        check(got is not None, "a lifecycle event reports the deactivation")
        status = json.loads(srv.http("/api/actors/transform")[1])
        check(status["state"] == "deactivated", "REST agrees: %r" % status["state"])
        request(ws, {"id": 3, "op": "lifecycle", "actor": "transform", "action": "activate"}, "ack")
        e = request(ws, {"id": 4, "op": "lifecycle", "actor": "transform", "action": "fly"}, "error")
        check(e["code"] == "bad_request", "%r" % e)
    finally:
        srv.close()


def case_get_stats(binary):
    srv = Serve(binary)
    try:
        ws, _ = connect(srv)
        s = request(ws, {"id": 9, "op": "get_stats"}, "stats")
        d = s["data"]
        check(d["backend"] in ("cpu", "cuda"), "%r" % d["backend"])
        check(d["runtime"]["messages_processed"] > 0, "real counters")
        check(d["server"]["ws_clients"] >= 1, "the server counts this client")
    finally:
        srv.close()


def case_errors(binary):
    srv = Serve(binary)
    try:
        ws, _ = connect(srv)
        for text, code in [("{not json", "invalid_json"), ('{"op":"fly","id":5}', "unknown_op"),
                           ('{"v":9,"op":"ping"}', "unsupported_version"), ("[]", "bad_request"),
                           ('{"op":"call","actor":"nobody","type":"rk.demo.Query","payload":{}}', "actor_not_found"),
                           ('{"op":"call","actor":"aggregate","type":"no.Such","payload":{}}', "unknown_type"),
                           ('{"op":"send","actor":"aggregate","type":"rk.demo.Query","payload":{"zzz":1}}', "invalid_payload"),
                           ('{"op":"send","actor":"aggregate","type":"rk.demo.Query","payload_b64":"!!"}', "invalid_payload")]:
            ws.send(text)
            m = json.loads(ws.recv())
            check(m["type"] == "error" and m["code"] == code, "%s -> %r (wanted %s)" % (text, m, code))
        ws.send_binary(b"\x00\x01")
        m = json.loads(ws.recv())
        check(m["type"] == "error", "binary frames get an error: %r" % m)
        request(ws, {"id": "alive", "op": "ping"}, "pong")  # still usable after every error
        _, metrics = srv.http("/metrics")
        line = [l for l in metrics.splitlines() if l.startswith("ringkernel_server_ws_errors_total ")][0]
        check(int(line.split()[1]) >= 9, "errors are counted: " + line)
    finally:
        srv.close()


def case_oversized_frame(binary):
    srv = Serve(binary, "--max-frame-bytes", "1024")
    try:
        ws, hello = connect(srv)
        check(hello["max_frame_bytes"] == 1024, "%r" % hello)
        # Just over the limit, so the whole frame is in the server's buffer when it refuses it (a much larger
        # frame would still be arriving when the server closes, and the kernel would answer with a reset).
        ws.send(json.dumps({"op": "ping", "id": "x" * 1100}))
        try:
            while True:
                op, frame = ws.recv_data_frame(True)
                if op == websocket.ABNF.OPCODE_CLOSE:
                    code = int.from_bytes(frame.data[:2], "big")
                    check(code == 1009, "close code 1009 (message too big), got %d" % code)
                    break
        except websocket.WebSocketConnectionClosedException:
            raise AssertionError("connection dropped without a close frame")
        # The server itself is fine.
        check(srv.http("/health/live")[0] == 200, "server still live")
        ws2, _ = connect(srv)
        request(ws2, {"id": 1, "op": "ping"}, "pong")
    finally:
        srv.close()


def case_auth(binary):
    srv = Serve(binary, "--token", "tok-123")
    try:
        try:
            websocket.create_connection(srv.base + "/api/ws", timeout=5)
            raise AssertionError("upgrade without a token must fail")
        except websocket.WebSocketBadStatusException as e:
            check(e.status_code == 401, "401 expected, got %d" % e.status_code)
        try:
            websocket.create_connection(srv.base + "/api/ws", timeout=5, header=["Authorization: Bearer nope"])
            raise AssertionError("a wrong token must fail")
        except websocket.WebSocketBadStatusException as e:
            check(e.status_code == 401, "401 expected, got %d" % e.status_code)
        try:
            websocket.create_connection(srv.base + "/api/ws", timeout=5, header=["Authorization: Bearer tok-123"],
                                        origin="http://evil.example")
            raise AssertionError("a cross-origin upgrade must fail")
        except websocket.WebSocketBadStatusException as e:
            check(e.status_code == 403, "403 expected, got %d" % e.status_code)
        ws, _ = connect(srv, header=["Authorization: Bearer tok-123"])
        request(ws, {"id": 1, "op": "ping"}, "pong")
        ws2, _ = connect(srv, "/api/ws?access_token=tok-123")
        request(ws2, {"id": 1, "op": "ping"}, "pong")
        check(srv.http("/health/ready")[0] == 200, "probes need no token")
    finally:
        srv.close()


def case_reconnect_resume(binary):
    srv = Serve(binary, "--stats-ms", "0")
    try:
        ws, _ = connect(srv, "/api/ws?topics=custom")
        first = json.loads(ws.recv())
        check(first["type"] == "event" and first["topic"] == "custom/progress", "%r" % first)
        ws.close()
        time.sleep(2.5)  # progress events keep coming while we are away
        ws, hello = connect(srv, "/api/ws?topics=custom&last_event_id=%d" % first["event_id"])
        replayed = json.loads(ws.recv())
        check(replayed["type"] == "event", "%r" % replayed)
        check(first["event_id"] < replayed["event_id"] <= hello["last_event_id"],
              "resumed with a buffered event after %d (got %d, newest %d)" % (first["event_id"], replayed["event_id"], hello["last_event_id"]))
        check(replayed["data"]["readings_sent"] >= first["data"]["readings_sent"], "in order")
    finally:
        srv.close()


def case_slow_client(binary):
    srv = Serve(binary, "--stats-ms", "2", "--replay-buffer", "16")
    try:
        ws, _ = connect(srv, "/api/ws?topics=stats", sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
        # Not reading for a while: the server must keep serving everyone else at normal speed.
        t0 = time.time()
        for _ in range(20):
            check(srv.http("/health/ready")[0] == 200, "ready while a client stalls")
            time.sleep(0.2)
        check(time.time() - t0 < 15, "requests stayed fast")
        gap = None
        deadline = time.time() + 20
        while time.time() < deadline and gap is None:
            m = json.loads(ws.recv())
            if m["type"] == "gap":
                gap = m
        check(gap is not None and gap["missed"] > 0, "the slow client is told what it missed")
        _, metrics = srv.http("/metrics")
        line = [l for l in metrics.splitlines() if l.startswith("ringkernel_server_events_dropped_total ")][0]
        check(int(line.split()[1]) > 0, "drops are counted: " + line)
    finally:
        srv.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ringkernel", required=True)
    ap.add_argument("--case", required=True)
    a = ap.parse_args()
    fn = globals().get("case_" + a.case)
    if fn is None:
        sys.exit("unknown case " + a.case)
    fn(a.ringkernel)
    print("ws_test.py: %s ok" % a.case)


if __name__ == "__main__":
    main()

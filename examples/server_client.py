#!/usr/bin/env python3
"""A Python client of the RingKernel operations server: REST, Server-Sent Events and the WebSocket protocol.

    python3 examples/server_client.py --url http://127.0.0.1:8080            # a running `ringkernel serve`
    python3 examples/server_client.py --ringkernel build/default/ringkernel   # starts one on a free port

Needs websocket-client (scripts/requirements.txt); SSE and REST use only the standard library.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client


def rest(base, method, path, body=None, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def sse_events(base, topics, count, token=None):
    """Reads `count` events from /api/events (the SSE wire format, parsed by hand)."""
    req = urllib.request.Request(base + "/api/events?topics=" + topics)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    events, current = [], {}
    with urllib.request.urlopen(req, timeout=10) as r:
        for raw in r:
            line = raw.decode().rstrip("\n")
            if not line:
                if "data" in current:
                    events.append(current)
                    if len(events) == count:
                        return events
                current = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(": ")
                current[key] = value
    return events


def demo(base, token):
    actors = rest(base, "GET", "/api/actors", token=token)["actors"]
    print("actors:", ", ".join("%s(%s)" % (a["name"], a["state"]) for a in actors))

    reply = rest(base, "POST", "/api/actors/aggregate/call", {"type": "rk.demo.Query", "payload": {}}, token)
    print("REST call: accepted=%d in %d us" % (reply["reply"]["payload"]["accepted"], reply["latency_us"]))

    for ev in sse_events(base, "custom,stats", 2, token):
        data = json.loads(ev["data"])
        print("SSE event id=%s topic=%s" % (ev["id"], data["topic"]))

    ws_url = base.replace("http://", "ws://") + "/api/ws"
    ws = websocket.create_connection(ws_url, timeout=5,
                                     header=["Authorization: Bearer " + token] if token else None)
    hello = json.loads(ws.recv())
    print("WS connected, protocol", hello["protocol"])
    ws.send(json.dumps({"v": 1, "id": 1, "op": "call", "actor": "aggregate", "type": "rk.demo.SensorQuery",
                        "payload": {"sensor": 2}}))
    r = json.loads(ws.recv())
    assert r["type"] == "reply", r
    print("WS call: sensor 2 count=%d (%d us)" % (r["message"]["payload"]["count"], r["latency_us"]))
    ws.send(json.dumps({"v": 1, "id": 2, "op": "ping"}))
    assert json.loads(ws.recv())["type"] == "pong"
    ws.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url")
    ap.add_argument("--ringkernel")
    ap.add_argument("--token", default=os.environ.get("RINGKERNEL_TOKEN"))
    a = ap.parse_args()
    if a.url:
        demo(a.url.rstrip("/"), a.token)
        return
    if not a.ringkernel:
        sys.exit("give --url of a running server or --ringkernel to start one")
    with tempfile.TemporaryDirectory() as d:
        port_file = os.path.join(d, "port")
        p = subprocess.Popen([a.ringkernel, "serve", "--port", "0", "--port-file", port_file, "--stats-ms", "200"],
                             stdout=subprocess.DEVNULL)
        try:
            deadline = time.time() + 15
            while not os.path.exists(port_file):
                if p.poll() is not None or time.time() > deadline:
                    sys.exit("serve did not start")
                time.sleep(0.02)
            demo("http://127.0.0.1:%s" % open(port_file).read().strip(), a.token)
        finally:
            p.terminate()
            p.wait(timeout=15)
    print("server_client.py: ok")


if __name__ == "__main__":
    main()

"""A counting HTTP proxy in front of moto, for benches/deploy.sh: forwards every request and
counts AWS API calls by operation (X-Amz-Target for JSON services, Action= for query ones).
Usage: count_proxy.py UPSTREAM PORT COUNTS_FILE [PORT_FILE]; PORT 0 lets the kernel pick a
free port, which is then written to PORT_FILE."""
import collections
import http.server
import json
import os
import sys
import threading
import urllib.parse
import urllib.request

upstream, port, out_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
counts = collections.Counter()
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        target = self.headers.get("X-Amz-Target")
        if target:
            op = target.split(".")[-1]
        else:
            op = urllib.parse.parse_qs(body.decode()).get("Action", ["?"])[0]
        if self.path.startswith("/_bench/dump"):
            with lock:
                data = json.dumps(counts).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        with lock:
            counts[op] += 1
            with open(out_file, "w") as f:
                json.dump(counts, f)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        req = urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST")
        try:
            resp = urllib.request.urlopen(req)
            status, rbody, rheaders = resp.status, resp.read(), resp.headers
        except urllib.error.HTTPError as e:
            status, rbody, rheaders = e.code, e.read(), e.headers
        self.send_response(status)
        for k, v in rheaders.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rbody)))
        self.end_headers()
        self.wfile.write(rbody)

    do_GET = do_POST


server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
if len(sys.argv) > 4:
    with open(sys.argv[4] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(sys.argv[4] + ".tmp", sys.argv[4])
server.serve_forever()

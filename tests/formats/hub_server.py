#!/usr/bin/python3
"""A local stand-in for the Hugging Face hub, for tokamak's download tests (stdlib only).

Serves ROOT/OWNER/REPO/REVISION/PATH at /OWNER/REPO/resolve/REVISION/PATH the way the hub does:
  * LFS files (*.gguf, *.safetensors, *.bin): HEAD/GET answer 302 to an absolute /cdn/... URL
    with X-Linked-Size, X-Linked-Etag (the sha256, quoted), ETag and X-Repo-Commit; the CDN
    URL serves the bytes with Range support (206 + Content-Range).
  * other files: 200 with a git-blob style ETag (40 hex) and Content-Length.
  * 404 with X-Error-Code: EntryNotFound for missing files; 401 for a private repo without
    "Authorization: Bearer TOKEN".
Behaviour switches come from the JSON file given with --config (re-read on every request, so a
test can change them between runs):
  {"private": {"owner/repo": "token"},
   "drop_once": {"owner/repo/rev/path": N},   first CDN GET sends N bytes, then drops
   "bad_sha": {"owner/repo/rev/path": "hex"}, X-Linked-Etag to announce instead of the real one
   "ignore_range": ["owner/repo/rev/path"]}   CDN answers 200 with everything to a Range
Every request is appended to --log as one JSON line {method, path, range, auth}.
Prints "PORT PID" on stdout once listening on 127.0.0.1 (port chosen by the OS).
"""
import argparse
import hashlib
import json
import os
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".llamafile")
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class State:
    def __init__(self, root, config, log):
        self.root = root
        self.config_path = config
        self.log_path = log
        self.dropped = set()
        self.lock = threading.Lock()

    def config(self):
        if not self.config_path or not os.path.exists(self.config_path):
            return {}
        with open(self.config_path) as f:
            return json.load(f)

    def log(self, entry):
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")


def file_hashes(path):
    with open(path, "rb") as f:
        data = f.read()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return hashlib.sha256(data).hexdigest(), blob, len(data)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, fmt, *args):  # quiet: the JSON log is what tests read
        pass

    def do_HEAD(self):
        self.handle_request(head=True)

    def do_GET(self):
        self.handle_request(head=False)

    def reply(self, status, headers, body=b"", head=False):
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def handle_request(self, head):
        st = self.state
        path = unquote(self.path.split("?", 1)[0])
        st.log({"method": self.command, "path": path, "range": self.headers.get("Range"),
                "auth": self.headers.get("Authorization")})
        cfg = st.config()
        parts = path.lstrip("/").split("/")
        if parts[0] == "cdn" and len(parts) >= 5:
            return self.serve_cdn("/".join(parts[1:]), cfg, head)
        if len(parts) < 5 or parts[2] != "resolve" or ".." in parts:
            return self.reply(404, {"X-Error-Code": "RepoNotFound"}, b"not found", head)
        owner, repo, rev, rel = parts[0], parts[1], parts[3], "/".join(parts[4:])
        repo_id = owner + "/" + repo
        token = cfg.get("private", {}).get(repo_id)
        if token is not None and self.headers.get("Authorization") != "Bearer " + token:
            return self.reply(401, {"X-Error-Code": "GatedRepo"}, b"unauthorized", head)
        key = "/".join([owner, repo, rev, rel])
        local = os.path.join(st.root, key)
        if not os.path.isfile(local):
            return self.reply(404, {"X-Error-Code": "EntryNotFound"}, b"entry not found", head)
        sha, blob, size = file_hashes(local)
        if rel.endswith(LFS_SUFFIXES):
            announced = cfg.get("bad_sha", {}).get(key, sha)
            host = "127.0.0.1:%d" % self.server.server_address[1]
            return self.reply(302, {
                "Location": "http://%s/cdn/%s" % (host, key),
                "X-Linked-Size": str(size),
                "X-Linked-Etag": '"%s"' % announced,
                "ETag": 'W/"%s"' % blob,
                "X-Repo-Commit": COMMIT,
            }, b"", head)
        with open(local, "rb") as f:
            data = f.read()
        return self.reply(200, {"ETag": '"%s"' % blob, "X-Repo-Commit": COMMIT}, data, head)

    def serve_cdn(self, key, cfg, head):
        local = os.path.join(self.state.root, key)
        if ".." in key.split("/") or not os.path.isfile(local):
            return self.reply(404, {}, b"no such object", head)
        with open(local, "rb") as f:
            data = f.read()
        size = len(data)
        start = 0
        rng = self.headers.get("Range")
        if rng and key not in cfg.get("ignore_range", []):
            if not rng.startswith("bytes=") or not rng.endswith("-"):
                return self.reply(400, {}, b"only bytes=N- ranges", head)
            start = int(rng[len("bytes="):-1])
            if start >= size:
                return self.reply(416, {"Content-Range": "bytes */%d" % size}, b"", head)
        body = data[start:]
        headers = {"Content-Length": str(len(body)), "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        status = 200
        if start > 0:
            status = 206
            headers["Content-Range"] = "bytes %d-%d/%d" % (start, size - 1, size)
        drop = cfg.get("drop_once", {}).get(key)
        if drop is not None and not head and key not in self.state.dropped:
            self.state.dropped.add(key)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body[:drop])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        return self.reply(status, headers, body, head)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--log", required=True)
    ap.add_argument("--config", default="")
    args = ap.parse_args()
    Handler.state = State(args.root, args.config, args.log)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # The test stops the server with SIGTERM: exit quietly.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("%d %d" % (server.server_address[1], os.getpid()), flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A fake Hugging Face Hub on 127.0.0.1 that serves one local folder as repo@revision, so
the weight download can be tested for real through huggingface_hub, with no network.

It speaks the part of the Hub's HTTP protocol that huggingface_hub 2.4's snapshot_download
uses: the model info API (`/api/models/REPO/revision/REV`, siblings with sizes), the tree
API (`/api/models/REPO/tree/REV`), and `/REPO/resolve/REV/FILE` for HEAD and GET with
ETag, X-Repo-Commit and Content-Length. Large files are served as the Hub serves LFS files:
resolve answers 302 with X-Linked-Etag (the sha256) and X-Linked-Size, to a second server
standing for the CDN, which honours Range. There is no Xet: no X-Xet-Hash, no xetHash.

It records every request, and can trickle a file and hold its last chunk until the test
sets an Event, so a test can look at a download that is half done.
"""
import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.loopback import LoopbackServer

BRANCH = "main"
LFS_THRESHOLD = 100_000       # files this big are served as LFS files, through the CDN
HOLD_TIMEOUT_S = 30           # a held chunk is dropped after this, so no test hangs on it


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str           # unquoted, without the query
    query: dict
    range: str | None


@dataclass(frozen=True)
class RepoFile:
    path: str
    data: bytes
    git_sha1: str       # the git blob id: the ETag of a regular file
    sha256: str         # the LFS oid: the ETag of an LFS file

    @property
    def is_lfs(self):
        return len(self.data) >= LFS_THRESHOLD

    @classmethod
    def read(cls, folder, path):
        data = (folder / path).read_bytes()
        git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return cls(path, data, git_sha1, hashlib.sha256(data).hexdigest())


@dataclass
class Trickle:
    chunk_bytes: int
    delay_s: float
    release: threading.Event | None = None   # set: the last chunk may go
    held: threading.Event = field(default_factory=threading.Event)  # the last chunk waits


class FakeHub:
    """Serves `folder` as `repo_id` at commit `commit` (also as branch "main").
    Use as a context manager, or start() and stop()."""

    def __init__(self, folder, repo_id, commit):
        folder = Path(folder)
        self.repo_id = repo_id
        self.commit = commit
        names = [path.relative_to(folder).as_posix()
                 for path in sorted(folder.rglob("*")) if path.is_file()]
        self.files = {name: RepoFile.read(folder, name) for name in names}
        self._requests = []
        self._lock = threading.Lock()
        self._trickles = {}
        handler = _handler_class(self)
        self._hub = LoopbackServer(handler)
        self._cdn = LoopbackServer(handler)

    @property
    def url(self):
        return self._hub.url

    def start(self):
        self._hub.start()
        self._cdn.start()
        return self

    def stop(self):
        self._hub.stop()
        self._cdn.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def trickle(self, path, chunk_bytes=16_384, delay_s=0.0, hold_last_chunk=False):
        """Serve `path` (an LFS-sized file) in chunks, `delay_s` apart; with
        hold_last_chunk, its last chunk waits until the Trickle's `release` is set. The
        Trickle's `held` is set once a download waits on that last chunk."""
        if not self.files[path].is_lfs:
            raise ValueError(f"{path} is served whole by resolve; only LFS-sized files trickle")
        trickle = Trickle(chunk_bytes, delay_s, threading.Event() if hold_last_chunk else None)
        self._trickles[path] = trickle
        return trickle

    def requests(self):
        with self._lock:
            return list(self._requests)

    def file_downloads(self):
        """The GETs that carried a file's bytes (resolve of a regular file, or the CDN)."""
        return [request for request in self.requests() if request.method == "GET" and (
            request.path.startswith("/cdn/") or "/resolve/" in request.path)]

    def record(self, request):
        with self._lock:
            self._requests.append(request)

    # What the Hub answers, as (status, headers, body) -------------------------------

    def answer(self, path):
        """(status, headers, body) for `path`, or None for a CDN path (the handler streams
        those itself, with Range and trickling)."""
        repo_prefix = f"/api/models/{self.repo_id}/"
        if path.startswith(repo_prefix):
            return self._api(path[len(repo_prefix):])
        if path.startswith(f"/{self.repo_id}/resolve/"):
            return self._resolve(path[len(f"/{self.repo_id}/resolve/"):])
        if path.startswith("/cdn/"):
            return None
        if path.startswith("/api/models/") or "/resolve/" in path:
            return _error(401, "RepoNotFound", "Repository not found")
        return _error(404, None, "Not found")

    def _api(self, rest):
        kind, _, revision = rest.partition("/")
        if kind not in ("revision", "tree"):
            return _error(404, None, "Not found")
        revision = revision.removesuffix("/")
        if revision not in (self.commit, BRANCH):
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if kind == "revision":
            return _json(200, self._model_info())
        return _json(200, self._tree())

    def _model_info(self):
        siblings = [{"rfilename": repo_file.path, "size": len(repo_file.data),
                     "blobId": repo_file.git_sha1, **self._lfs_of(repo_file, "sha256")}
                    for repo_file in self.files.values()]
        return {"_id": "fake", "id": self.repo_id, "modelId": self.repo_id,
                "sha": self.commit, "private": False, "siblings": siblings}

    def _tree(self):
        folders = sorted({str(Path(name).parent) for name in self.files} - {"."})
        entries = [{"type": "directory", "oid": "0" * 40, "path": name} for name in folders]
        entries += [{"type": "file", "oid": repo_file.git_sha1, "size": len(repo_file.data),
                     "path": repo_file.path, **self._lfs_of(repo_file, "oid")}
                    for repo_file in self.files.values()]
        return entries

    @staticmethod
    def _lfs_of(repo_file, oid_key):
        if not repo_file.is_lfs:
            return {}
        return {"lfs": {oid_key: repo_file.sha256, "size": len(repo_file.data),
                        "pointerSize": 134}}

    def _resolve(self, rest):
        revision, _, name = rest.partition("/")
        if revision not in (self.commit, BRANCH):
            return _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        repo_file = self.files.get(name)
        if repo_file is None:
            return _error(404, "EntryNotFound", f"{name} does not exist",
                          {"X-Repo-Commit": self.commit})
        if repo_file.is_lfs:
            return 302, {"Location": f"{self._cdn.url}/cdn/{repo_file.sha256}",
                         "ETag": f'"{repo_file.git_sha1}"',
                         "X-Linked-Etag": f'"{repo_file.sha256}"',
                         "X-Linked-Size": str(len(repo_file.data)),
                         "X-Repo-Commit": self.commit, "Content-Length": "0"}, b""
        return 200, {"ETag": f'"{repo_file.git_sha1}"', "X-Repo-Commit": self.commit,
                     "Content-Type": "application/octet-stream"}, repo_file.data

    def cdn_file(self, path):
        sha256 = path.removeprefix("/cdn/")
        return next((repo_file for repo_file in self.files.values()
                     if repo_file.sha256 == sha256), None)

    def trickle_of(self, repo_file):
        return self._trickles.get(repo_file.path)


def _json(status, value):
    import json

    return status, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _error(status, code, message, headers=None):
    error_headers = {"X-Error-Message": message, **(headers or {})}
    if code:
        error_headers["X-Error-Code"] = code
    status, json_headers, body = _json(status, {"error": message})
    return status, {**json_headers, **error_headers}, body


def _handler_class(hub):
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self._serve(send_body=False)

        def do_GET(self):
            self._serve(send_body=True)

        def log_message(self, *args):   # quiet test output
            pass

        def _serve(self, send_body):
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            hub.record(RecordedRequest(self.command, path, parse_qs(parts.query),
                                       self.headers.get("Range")))
            answer = hub.answer(path)
            if answer is None:
                self._serve_cdn(path, send_body)
                return
            status, headers, body = answer
            self._start(status, headers, len(body))
            if send_body and status != 302:
                self._send_file_body(body, None)

        def _serve_cdn(self, path, send_body):
            repo_file = hub.cdn_file(path)
            if repo_file is None:
                status, headers, body = _error(404, None, "no such blob")
                self._start(status, headers, len(body))
                if send_body:
                    self.wfile.write(body)
                return
            start = _range_start(self.headers.get("Range"))
            size = len(repo_file.data)
            headers = {"ETag": f'"{repo_file.sha256}"', "Accept-Ranges": "bytes",
                       "Content-Type": "application/octet-stream"}
            if start:
                headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
            self._start(206 if start else 200, headers, size - start)
            if send_body:
                self._send_file_body(repo_file.data[start:], hub.trickle_of(repo_file))

        def _start(self, status, headers, length):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if "Content-Length" not in headers:
                self.send_header("Content-Length", str(length))
            self.end_headers()

        def _send_file_body(self, body, trickle):
            if trickle is None:
                self.wfile.write(body)
                return
            step = trickle.chunk_bytes
            chunks = [body[start:start + step] for start in range(0, len(body), step)]
            for index, chunk in enumerate(chunks):
                if index == len(chunks) - 1 and trickle.release is not None:
                    trickle.held.set()
                    if not trickle.release.wait(HOLD_TIMEOUT_S):
                        return   # never released: the client sees a short body
                elif index:
                    time.sleep(trickle.delay_s)   # the trickle's pace
                self.wfile.write(chunk)
                self.wfile.flush()

    return Handler


def _range_start(range_header):
    """The first byte of a `Range: bytes=N-` request (the only form the client sends)."""
    if not range_header or not range_header.startswith("bytes="):
        return 0
    return int(range_header.removeprefix("bytes=").split("-")[0] or 0)

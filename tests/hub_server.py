"""A local stand-in for the Hugging Face Hub, for tests (standard library only).

It speaks the subset of the Hub HTTP protocol that ``huggingface_hub`` uses for ``snapshot_download``,
``hf_hub_download`` and ``HfApi().model_info``, as read from the two client versions in this project:
0.36.2 (requests based, ``.venvs/translate``) and 2.4.0 (httpx2 based, ``.venvs/common``). Clients are
pointed at it with ``HF_ENDPOINT=<server.url>`` (read by ``huggingface_hub.constants`` at import time, so
it must be in the environment before the client library is imported).

Endpoints::

    GET  /api/models/{repo_id}                        model info at the default branch ("main")
    GET  /api/models/{repo_id}/revision/{revision}    model info at a branch or full commit sha
         ?blobs=true  (files_metadata=True) adds size, blobId and lfs {size, sha256, pointerSize}
    GET  /api/models/{repo_id}/tree/{revision}[/{path}]?recursive=..   file listing (2.4.0 snapshot_download)
    HEAD /{repo_id}/resolve/{revision}/{filename}     file metadata (get_hf_file_metadata)
    GET  /{repo_id}/resolve/{revision}/{filename}     file content, honouring "Range: bytes=N-" (http_get)

No redirects are used: the file is served from the /resolve URL itself, which both clients accept (the
HEAD response then is the final response and its headers are read directly). No Xet headers are ever sent,
so both clients take the plain HTTP download path even though ``hf_xet`` is installed in both venvs.

Usage::

    with HubServer() as hub:            # started on a free port of 127.0.0.1
        sha = hub.add_repo("org/name", files={"config.json": b"{}", "model.bin": b"..."})
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", ...}
        ...
        assert any(r.headers.get("Range") for r in hub.requests)

Client behaviours worth knowing when writing tests (read from the two versions' file_download.py):

* ``http_get`` writes the body in ``constants.DOWNLOAD_CHUNK_SIZE`` (10 MiB) pieces, and bytes of a partial
  piece are lost when the connection drops. A truncated download is resumed with ``Range: bytes=N-`` only if
  N >= 10 MiB, or if the test lowers ``huggingface_hub.constants.DOWNLOAD_CHUNK_SIZE`` (read at call time);
  otherwise the retry starts again from byte 0 (still correct, but without a Range header).
* 2.4.0 retries a truncated body (httpx2 RemoteProtocolError) or a read timeout inside the same ``http_get``
  call, into a per-process temporary file that is deleted on failure: one ``hf_hub_download`` call succeeds.
* 0.36.2 retries inside the call only on a read timeout (requests ConnectionError); a truncated body raises
  ``requests.exceptions.ChunkedEncodingError`` out of ``hf_hub_download``, leaving ``blobs/<etag>.incomplete``,
  which the next call resumes with a Range header. Use ``fail_once(..., stall=...)`` longer than
  ``HF_HUB_DOWNLOAD_TIMEOUT`` to get a same-call resume on 0.36.2 too.
* 2.4.0 ``snapshot_download`` lists files with the tree endpoint; 0.36.2 uses model info ``siblings``.

As a script: ``python tests/hub_server.py --root DIR [--port N] [--gated org/name]`` serves every
``DIR/<org>/<name>/`` directory as the repo ``org/name``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping, NamedTuple, Union
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["HubServer", "RecordedRequest", "DEFAULT_TOKEN", "is_lfs_path"]

DEFAULT_TOKEN = "hf_hubserver_valid_token"

# Files stored with Git LFS on this fake hub: large ones, and the usual weight formats.
LFS_MIN_SIZE = 1024 * 1024
LFS_SUFFIXES = (".bin", ".safetensors", ".onnx")

# Fixed dates keep every JSON answer deterministic.
_CREATED_AT = "2024-01-01T00:00:00.000Z"

_RANGE_RE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", re.IGNORECASE)
_CHUNK = 64 * 1024

FileContent = Union[bytes, str, os.PathLike]


def is_lfs_path(path: str, size: int) -> bool:
    """Whether a file of this name and size is an LFS file on this hub (etag = sha256 of the content)."""
    return size >= LFS_MIN_SIZE or path.lower().endswith(LFS_SUFFIXES)


def _git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob: sha1 over "blob <size>\\0" + content."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class _Blob:
    data: bytes
    git_oid: str                # git blob id; for LFS files the id of the pointer file, as on the Hub
    sha256: str | None = None   # LFS files only
    pointer_size: int | None = None

    @classmethod
    def make(cls, path: str, data: bytes) -> "_Blob":
        if not is_lfs_path(path, len(data)):
            return cls(data, _git_blob_sha1(data))
        sha256 = hashlib.sha256(data).hexdigest()
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()
        return cls(data, _git_blob_sha1(pointer), sha256, len(pointer))

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def etag(self) -> str:
        # The Hub's etag for an LFS file is the sha256 of its content, for a regular file its git blob id.
        # Clients name the cache blob after it (blobs/<etag>).
        return self.sha256 or self.git_oid


@dataclass
class _Repo:
    repo_id: str
    gated: Union[bool, str] = False          # False, "auto" or "manual", as in the Hub's model info
    private: bool = False
    refs: dict[str, str] = field(default_factory=dict)                   # branch -> commit sha
    commits: dict[str, dict[str, _Blob]] = field(default_factory=dict)   # commit sha -> {path: blob}

    def resolve(self, revision: str) -> str | None:
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


@dataclass
class _Failure:
    after_bytes: int | None = None   # send this many body bytes, then drop the connection
    status: int | None = None        # or answer with this HTTP status instead of the file
    stall: float = 0.0               # seconds to hold the connection open (silent) before dropping it


class _CaseInsensitiveDict(dict):
    """A dict of HTTP headers whose keys are looked up case-insensitively (stored lower-cased)."""

    def __init__(self, items=()):
        super().__init__((str(k).lower(), v) for k, v in dict(items).items())

    def __getitem__(self, key):
        return super().__getitem__(str(key).lower())

    def __contains__(self, key):
        return super().__contains__(str(key).lower())

    def get(self, key, default=None):
        return super().get(str(key).lower(), default)


class RecordedRequest(NamedTuple):
    method: str      # "GET", "HEAD", ...
    path: str        # the request target as sent, query string included
    headers: dict    # case-insensitive: headers.get("Range") == headers.get("range")


class HubServer:
    """A threaded HTTP server emulating the Hugging Face Hub for model repositories."""

    def __init__(self, root_dir: str | os.PathLike | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 valid_token: str = DEFAULT_TOKEN, verbose: bool = False) -> None:
        """``root_dir``, if given, is scanned now: each ``root_dir/<org>/<name>/`` directory becomes the repo
        ``org/name`` holding all files below it. ``port=0`` picks a free port at ``start()``."""
        self.host = host
        self.port = port
        self.valid_token = valid_token
        self.verbose = verbose
        self.requests: list[RecordedRequest] = []
        self._repos: dict[str, _Repo] = {}
        self._failures: dict[tuple[str, str], list[_Failure]] = {}
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        if root_dir is not None:
            for org in sorted(p for p in Path(root_dir).iterdir() if p.is_dir()):
                for repo in sorted(p for p in org.iterdir() if p.is_dir()):
                    self.add_repo(f"{org.name}/{repo.name}", from_dir=repo)

    # ----------------------------------------------------------------------------------------- repos

    def add_repo(self, repo_id: str, files: Mapping[str, FileContent] | None = None, *,
                 from_dir: str | os.PathLike | None = None, gated: Union[bool, str, None] = None,
                 private: bool | None = None, branch: str = "main", replace: bool = False,
                 commit: str | None = None) -> str:
        """Commit ``files`` (path -> bytes, str or a path to read) and/or every file under ``from_dir``
        to ``branch`` of ``repo_id``, creating the repo if needed, and return the new commit sha.

        A new commit starts from the branch's current files (``replace=True``: from nothing) and moves the
        branch; older commits stay reachable by their sha. Commit shas are deterministic (a hash of repo,
        branch, parent and files). ``gated``: False, True (= "auto"), "auto" or "manual"; ``None`` keeps
        the repo's current setting. Gating applies to file downloads only, as on the Hub. ``commit``: use
        this 40-hex sha for the new commit (to serve a repo at a revision a catalog pins)."""
        contents: dict[str, bytes] = {}
        if from_dir is not None:
            base = Path(from_dir)
            for path in sorted(base.rglob("*")):
                if path.is_file() and ".git" not in path.relative_to(base).parts:
                    contents[path.relative_to(base).as_posix()] = path.read_bytes()
        for name, value in (files or {}).items():
            if isinstance(value, str):
                value = value.encode()
            elif not isinstance(value, (bytes, bytearray)):
                value = Path(value).read_bytes()
            contents[name.strip("/")] = bytes(value)

        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo(repo_id))
            if gated is not None:
                repo.gated = "auto" if gated is True else gated
            if private is not None:
                repo.private = private
            parent = repo.refs.get(branch)
            tree = {} if (replace or parent is None) else dict(repo.commits[parent])
            tree.update({path: _Blob.make(path, data) for path, data in contents.items()})
            digest = hashlib.sha1(f"hubserver-commit\0{repo_id}\0{branch}\0{parent or ''}\0".encode())
            for path, blob in sorted(tree.items()):
                digest.update(f"{path}\0{blob.git_oid}\0".encode())
            sha = commit or digest.hexdigest()
            repo.commits[sha] = tree
            repo.refs[branch] = sha
            return sha

    def set_gated(self, repo_id: str, gated: Union[bool, str]) -> None:
        with self._lock:
            self._repos[repo_id].gated = "auto" if gated is True else gated

    def ref(self, repo_id: str, branch: str = "main") -> str:
        """The commit sha ``branch`` of ``repo_id`` points to."""
        with self._lock:
            return self._repos[repo_id].refs[branch]

    def fail_once(self, repo_id: str, filename: str, *, after_bytes: int | None = None,
                  status: int | None = None, stall: float = 0.0) -> None:
        """Make the next GET of ``filename`` (any revision) fail once; calls queue up for later GETs.

        ``after_bytes=N``: answer normally (full Content-Length) but send only N bytes of the body, wait
        ``stall`` seconds without sending anything, then close the connection, so the client sees a truncated
        body (or, with a stall longer than its read timeout, a read timeout). ``status=503``: answer with
        that status and an error body instead of the file."""
        if (after_bytes is None) == (status is None):
            raise ValueError("give exactly one of after_bytes or status")
        with self._lock:
            self._failures.setdefault((repo_id, filename), []).append(_Failure(after_bytes, status, stall))

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, filename: str) -> list[RecordedRequest]:
        """The logged /resolve/ requests for ``filename`` (matched on the end of the path)."""
        with self._lock:
            return [r for r in self.requests
                    if "/resolve/" in r.path and unquote(urlsplit(r.path).path).endswith("/" + filename)]

    # ------------------------------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start serving in a background thread; returns the base URL (the value for HF_ENDPOINT)."""
        if self._httpd is not None:
            return self.url
        handler = type("_BoundHandler", (_Handler,), {"hub": self})
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"HubServer:{self.port}", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections, so pooled client connections fail too."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "HubServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------------- used by the handler

    def _record(self, method: str, path: str, headers) -> None:
        with self._lock:
            self.requests.append(RecordedRequest(method, path, _CaseInsensitiveDict(headers.items())))

    def _take_failure(self, repo_id: str, filename: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get((repo_id, filename))
            return queue.pop(0) if queue else None


class _HubError(Exception):
    """An error answer in the Hub's format: ``hf_raise_for_status`` (utils/_http.py in both clients) maps
    the ``X-Error-Code`` header to an exception class (GatedRepo -> GatedRepoError, RepoNotFound ->
    RepositoryNotFoundError, RevisionNotFound -> RevisionNotFoundError, EntryNotFound -> EntryNotFoundError /
    RemoteEntryNotFoundError) and appends ``X-Error-Message`` to the exception text."""

    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer  # bound by HubServer.start()
    protocol_version = "HTTP/1.1"   # keep-alive, as the clients' connection pools expect
    server_version = "HubServer/1.0"
    timeout = 60                    # idle keep-alive connections are closed after this

    def setup(self) -> None:
        super().setup()
        with self.hub._lock:
            self.hub._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.hub._lock:
                self.hub._connections.discard(self.connection)

    def log_message(self, format: str, *args) -> None:
        if self.hub.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch(send_body=True)

    def do_HEAD(self) -> None:
        self._dispatch(send_body=False)

    def _unsupported(self) -> None:
        self.hub._record(self.command, self.path, self.headers)
        self.close_connection = True  # the request body, if any, is not read
        self._send_error(_HubError(405, None, f"{self.command} is not supported by this test hub"), True)

    do_POST = do_PUT = do_DELETE = do_PATCH = _unsupported

    # ------------------------------------------------------------------------------------ routing

    def _dispatch(self, send_body: bool) -> None:
        self.hub._record(self.command, self.path, self.headers)
        split = urlsplit(self.path)
        query = parse_qs(split.query, keep_blank_values=True)
        # Split before unquoting: revisions arrive quoted with safe="" (refs%2Fpr%2F1) in both clients.
        segments = [s for s in split.path.split("/") if s]
        try:
            if len(segments) >= 3 and segments[:2] == ["api", "models"]:
                self._api_models(segments[2:], query, send_body)
            elif len(segments) >= 5 and segments[2] == "resolve":
                self._resolve(unquote(segments[0]) + "/" + unquote(segments[1]), segments[3:], send_body)
            elif len(segments) >= 4 and segments[1] == "resolve":
                self._resolve(unquote(segments[0]), segments[2:], send_body)
            else:
                raise _HubError(404, None, "Sorry, we can't find the page you are looking for.")
        except _HubError as error:
            self._send_error(error, send_body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _find_repo(self, segments: list[str]) -> tuple[_Repo, list[str]]:
        """Split ``org/name/<rest>`` (or ``name/<rest>``) into a known repo and the rest."""
        names = [unquote(s) for s in segments]
        with self.hub._lock:
            if len(names) >= 2 and f"{names[0]}/{names[1]}" in self.hub._repos:
                return self.hub._repos[f"{names[0]}/{names[1]}"], segments[2:]
            if names[0] in self.hub._repos:
                return self.hub._repos[names[0]], segments[1:]
        raise _HubError(404, "RepoNotFound", "Repository not found")

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _check_access(self, repo: _Repo, downloading: bool) -> None:
        token = self._token()
        if repo.private and token != self.hub.valid_token:
            # The Hub hides private repos: same answer as a missing repo.
            raise _HubError(401, "RepoNotFound", "Repository not found")
        if downloading and repo.gated and token != self.hub.valid_token:
            # As on the Hub: metadata of a gated repo is public, its files are not. No token -> 401, a token
            # without access -> 403; both carry X-Error-Code: GatedRepo, which is what makes
            # hf_raise_for_status raise GatedRepoError (the status code alone would give RepositoryNotFoundError
            # or a bare HfHubHTTPError).
            if token is None:
                raise _HubError(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must have "
                                "access to it and be authenticated to access it. Please log in.")
            raise _HubError(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are not in "
                            f"the authorized list. Visit https://huggingface.co/{repo.repo_id} to ask for access.")

    @staticmethod
    def _resolve_revision(repo: _Repo, revision: str) -> tuple[str, dict[str, _Blob]]:
        sha = repo.resolve(revision)
        if sha is None:
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return sha, repo.commits[sha]

    # ---------------------------------------------------------------------------------- /api/models

    def _api_models(self, segments: list[str], query: dict[str, list[str]], send_body: bool) -> None:
        repo, rest = self._find_repo(segments)
        with self.hub._lock:
            self._check_access(repo, downloading=False)
            if not rest:
                payload = self._model_info(repo, "main", query)
            elif rest[0] == "revision" and len(rest) == 2:
                payload = self._model_info(repo, unquote(rest[1]), query)
            elif rest[0] == "tree" and len(rest) >= 2:
                path = "/".join(unquote(s) for s in rest[2:])
                payload = self._tree(repo, unquote(rest[1]), path, _flag(query, "recursive"))
            else:
                raise _HubError(404, None, "Sorry, we can't find the page you are looking for.")
        body = json.dumps(payload).encode()
        self._send(200, {"Content-Type": "application/json; charset=utf-8"}, body, send_body)

    def _model_info(self, repo: _Repo, revision: str, query: dict[str, list[str]]) -> dict:
        """The JSON read by ``ModelInfo(**data)`` (hf_api.py). ``snapshot_download`` reads ``sha`` (both
        versions) and ``siblings[].rfilename`` (0.36.2 only; 2.4.0 lists files with the tree endpoint)."""
        sha, tree = self._resolve_revision(repo, revision)
        blobs = _flag(query, "blobs")  # files_metadata=True; httpx sends "true", requests "True"
        siblings = []
        for path, blob in sorted(tree.items()):
            sibling: dict = {"rfilename": path}
            if blobs:
                sibling.update(size=blob.size, blobId=blob.git_oid)
                if blob.sha256:
                    sibling["lfs"] = {"size": blob.size, "sha256": blob.sha256, "pointerSize": blob.pointer_size}
            siblings.append(sibling)
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": sha,
            "lastModified": _CREATED_AT,
            "createdAt": _CREATED_AT,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "xetEnabled": False,
            "siblings": siblings,
            "spaces": [],
            "usedStorage": sum(blob.size for blob in tree.values()),
        }
        expand = query.get("expand")
        if expand:  # expand=[...] asks for those properties only
            info = {k: v for k, v in info.items() if k in ("_id", "id") or k in expand}
        return info

    def _tree(self, repo: _Repo, revision: str, prefix: str, recursive: bool) -> list[dict]:
        """The JSON read by ``RepoFile(**entry)`` / ``RepoFolder(**entry)`` in ``HfApi.list_repo_tree``. All
        entries come in one page: with no ``Link: <...>; rel="next"`` header the client stops paginating."""
        _, tree = self._resolve_revision(repo, revision)
        base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        folders: set[str] = set()
        files = []
        for path, blob in sorted(tree.items()):
            if not path.startswith(base):
                continue
            parts = path[len(base):].split("/")
            for depth in range(1, len(parts) if recursive else min(len(parts), 2)):
                folders.add(base + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                entry = {"type": "file", "oid": blob.git_oid, "size": blob.size, "path": path}
                if blob.sha256:
                    entry["lfs"] = {"oid": blob.sha256, "size": blob.size, "pointerSize": blob.pointer_size}
                files.append(entry)
        if base and not files and not folders:
            raise _HubError(404, "EntryNotFound", f"{prefix} does not exist on \"{revision}\"")
        entries = [{"type": "directory", "oid": hashlib.sha1(f"tree\0{folder}\0{revision}".encode()).hexdigest(),
                    "size": 0, "path": folder} for folder in sorted(folders)]
        return sorted(entries + files, key=lambda e: e["path"])

    # -------------------------------------------------------------------------------------- /resolve

    def _resolve(self, repo_id: str, segments: list[str], send_body: bool) -> None:
        revision = unquote(segments[0])
        filename = "/".join(unquote(s) for s in segments[1:])
        with self.hub._lock:
            repo = self.hub._repos.get(repo_id)
            if repo is None:
                raise _HubError(404, "RepoNotFound", "Repository not found")
            self._check_access(repo, downloading=True)
            sha, tree = self._resolve_revision(repo, revision)
            blob = tree.get(filename)
            if blob is None:
                # X-Repo-Commit lets the client cache the absence (.no_exist/<commit>/<file>).
                raise _HubError(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": sha})
            failure = self.hub._take_failure(repo_id, filename) if self.command == "GET" else None

        # Headers read by get_hf_file_metadata (file_download.py, both versions):
        #   X-Repo-Commit                -> commit hash (snapshots/<commit>, refs/<branch>); required
        #   X-Linked-Etag, else ETag     -> etag, the cache blob name; quotes are stripped by _normalize_etag
        #   X-Linked-Size, else Content-Length -> expected size (checked after download by http_get)
        # The Hub sends X-Linked-* on LFS files (whose ETag would be the redirect's); here ETag is the same.
        # Absent X-Xet-Hash (parse_xet_file_data_from_response) => xet_file_data is None => plain http_get.
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": sha,
            "ETag": f'"{blob.etag}"',
        }
        if blob.sha256:
            headers["X-Linked-Etag"] = f'"{blob.sha256}"'
            headers["X-Linked-Size"] = str(blob.size)

        if failure is not None and failure.status is not None:
            raise _HubError(failure.status, None, f"Injected failure ({failure.status})")

        # http_get sends "Range: bytes=<already downloaded>-" when it resumes; it reads the total size from
        # Content-Range and restarts from scratch if it gets 200 instead of 206.
        start, end, status = 0, blob.size - 1, 200
        requested = self.headers.get("Range")
        match = _RANGE_RE.fullmatch(requested) if requested else None
        if match and (match.group(1) or match.group(2)):
            first, last = match.groups()
            if first:
                start, end = int(first), min(int(last), blob.size - 1) if last else blob.size - 1
            else:  # suffix range: the last N bytes
                start = max(blob.size - int(last), 0)
            if start >= blob.size or start > end:
                raise _HubError(416, None, "Requested Range Not Satisfiable",
                                {"Content-Range": f"bytes */{blob.size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{blob.size}"
        headers["Content-Length"] = str(end - start + 1)
        self._send(status, headers, b"", send_body=False)
        if not send_body:
            return

        body = memoryview(blob.data)[start:end + 1]
        if failure is not None:
            # Truncated answer: fewer bytes than Content-Length, then EOF. httpx2 raises RemoteProtocolError,
            # requests/urllib3 raises ChunkedEncodingError (IncompleteRead).
            body = body[:failure.after_bytes]
        for offset in range(0, len(body), _CHUNK):
            self.wfile.write(body[offset:offset + _CHUNK])
        if failure is not None:
            self.wfile.flush()
            self.hub._stopping.wait(failure.stall)
            self.close_connection = True

    # -------------------------------------------------------------------------------------- replies

    def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", f"hubserver-{len(self.hub.requests)}")
        self.end_headers()
        if send_body and body:
            self.wfile.write(body)

    def _send_error(self, error: _HubError, send_body: bool) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", "X-Error-Message": error.message}
        if error.code:
            headers["X-Error-Code"] = error.code
        headers.update(error.headers)
        self._send(error.status, headers, json.dumps({"error": error.message}).encode(), send_body)


def _flag(query: dict[str, list[str]], name: str) -> bool:
    return any(v.lower() in ("1", "true") for v in query.get(name, []))


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve DIR/<org>/<name>/ directories as Hugging Face Hub repos.")
    parser.add_argument("--root", required=True, help="directory holding <org>/<name>/ repo folders")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the token accepted for gated repos")
    parser.add_argument("--gated", action="append", default=[], metavar="ORG/NAME", help="gate this repo")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)
    hub = HubServer(args.root, host=args.host, port=args.port, valid_token=args.token, verbose=args.verbose)
    for repo_id in args.gated:
        hub.set_gated(repo_id, True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop cleanly on kill as well as on Ctrl-C
    url = hub.start()
    for repo_id in sorted(hub._repos):
        print(f"{repo_id} @ {hub.ref(repo_id)}{' (gated)' if hub._repos[repo_id].gated else ''}")
    print(f"HF_ENDPOINT={url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        hub.stop()


if __name__ == "__main__":
    _main()

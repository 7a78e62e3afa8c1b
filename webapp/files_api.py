"""Files over HTTP: listing, downloads (Range), SHA-256, and the admin's upload, folder,
rename and delete. Every name goes through FileStore.resolve.

Names travel in the wire form of sockets_core.names (any bytes, losslessly) and are read
from the request byte-exact (webapp.wirepaths). Listings also give each name readable
(``display``) with the ``encoding`` it was read in, so the page can mark a GBK name or one
shown with \\xNN escapes. Error texts name files relative to the root, never its
absolute path.
"""

from __future__ import annotations

import os
import posixpath
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
from flask import Blueprint, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sockets_core.addresses import format_address
from sockets_core.files import FileStore, UnsafePath
from sockets_core.names import display, from_wire, to_bytes, to_wire
from sockets_core.textcodec import ESCAPED
from sockets_core.transfers import refusal_reason

from .auth import admin_required, is_admin
from .context import services
from .disposition import attachment
from .frames import ReadableJSONProvider
from .uploads import StagedFile, commit_all, discard_staged
from .wirepaths import json_names, query_name, refuse_undecodable_query, route_name, shown

bp = Blueprint("files_api", __name__)

NOT_FOUND = (UnsafePath, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def reason(exc: Exception) -> str:
    """Why, in words safe to show a remote user: an error raised by the OS carries the
    absolute path in its text, so only its strerror is shown."""
    if isinstance(exc, OSError) and (exc.filename is not None or exc.strerror):
        return exc.strerror or type(exc).__name__
    return str(exc)


def entry_json(name: str, path: str, **fields: Any) -> dict[str, Any]:
    text, encoding = display(name)
    return {"name": to_wire(name), "path": to_wire(path), "display": text, "encoding": encoding, **fields}


@bp.get("/api/files")
def list_files() -> Any:
    sub = query_name("path").strip("/")
    store = services().store
    try:
        entries = store.list(sub)
    except NOT_FOUND as exc:
        abort(404, description=f"no folder {shown(sub)}: {reason(exc)}")
    crumbs, sofar = [], []
    for part in sub.split("/") if sub else []:
        sofar.append(part)
        crumbs.append(entry_json(part, "/".join(sofar)))
    return jsonify(path=to_wire(sub), display=display(sub)[0], crumbs=crumbs, admin=is_admin(),
                   max_upload=store.max_upload,
                   entries=[entry_json(e.name, e.path, size=e.size, modified=e.modified,
                                       type="dir" if e.is_dir else "file") for e in entries])


def peer() -> str:
    """The peer as the transfer list shows every peer: 1.2.3.4:5, [::1]:5 (an IPv4 client
    of a "::" bind arrives as ::ffff:1.2.3.4)."""
    address = request.remote_addr or "?"
    return format_address((address.removeprefix("::ffff:") if "." in address else address,
                           request.environ.get("REMOTE_PORT", "?")))


def download_name(path: Path) -> str:
    """The name the browser saves under: readable; bytes that are neither UTF-8 nor GBK
    become U+FFFD (a \\ from \\xNN would be a folder separator on Windows)."""
    text, encoding = display(path.name)
    return to_bytes(path.name).decode("utf-8", "replace") if encoding == ESCAPED else text


def etag(path: Path) -> str:
    """Werkzeug's ETag (mtime, size, adler32 of the path), over the path's bytes."""
    st = path.stat()
    return f"{st.st_mtime}-{st.st_size}-{zlib.adler32(os.fsencode(path)) & 0xFFFFFFFF}"


@bp.get("/files/<path:_werkzeug_name>")  # decoded lossily by werkzeug: route_name reads the bytes
def download(_werkzeug_name: str) -> Any:
    name = route_name("/files/")
    try:
        path, _size = services().store.open_for_reading(name)
    except NOT_FOUND as exc:
        if request.method == "GET":  # listed as Tftpd64 lists every request; a HEAD is only a question
            services().transfers.refused("http", "download", peer(), name, f"404: {refusal_reason(exc)}")
        abort(404, description=f"no file {shown(name)}: {reason(exc)}")
    # conditional=True gives Range requests (curl -C -, browser resume) and ETags; the ETag
    # is made here because werkzeug's encodes the path as strict UTF-8
    response = send_file(path, as_attachment=True, download_name=download_name(path), conditional=True,
                         etag=etag(path))
    # werkzeug's ASCII filename= drops every non-ASCII character: 配置.txt was saved as ".txt"
    response.headers["Content-Disposition"] = attachment(download_name(path))
    if request.method == "GET" and response.status_code in (200, 206) and response.content_length:
        range_note = response.headers.get("Content-Range", "")
        transfer = services().transfers.begin("http", "download", peer(), services().store.relative(path),
                                              response.content_length, range_note)
        response.response = _counted(response.response, transfer)
    return response


def _counted(body: Any, transfer: Any) -> Iterator[bytes]:
    """Pass the body through, counting it; a body closed early is a cancelled download."""
    try:
        for chunk in body:
            transfer.advance(len(chunk))
            yield chunk
    finally:
        if hasattr(body, "close"):
            body.close()
        transfer.finish(None if transfer.done_bytes >= (transfer.size or 0) else "cancelled by the client")


@bp.get("/api/files/sha256")
def sha256() -> Any:
    name = query_name("path")
    store = services().store
    try:
        store.open_for_reading(name)
        # hashing a large file must not stall the event loop: hashlib releases the GIL
        digest = gevent.get_hub().threadpool.apply(store.sha256, (name,))
    except NOT_FOUND as exc:
        abort(404, description=f"no file {shown(name)}: {reason(exc)}")
    return jsonify(path=to_wire(name), sha256=digest)


@bp.post("/api/files")
@admin_required
def upload() -> Any:
    """All or nothing: every file of the request is checked before any is kept; one refused
    name (taken, unsafe, a folder) keeps none and the answer lists each refusal."""
    store = services().store
    try:
        folder = query_name("path") or from_wire(request.form.get("path", ""))
        overwrite = (request.args.get("overwrite") or request.form.get("overwrite", "")) in ("1", "true")
        uploads = request.files.getlist("file")
    except RequestEntityTooLarge:
        discard_staged(request, "over the upload limit")
        abort(413, description=f"upload larger than the limit of {store.max_upload} bytes")
    except UnsafePath as exc:
        discard_staged(request, str(exc))
        abort(400, description=f"bad folder name: {exc}")
    if not uploads:  # werkzeug also drops a part whose header (its file name) is not UTF-8
        abort(400, description="no file in the request (multipart field 'file'; a file name that is not "
                               "UTF-8 must be sent in the ~b64: form, see docs/websocket.md)")
    batch, refused = _plan(store, folder, uploads, overwrite)
    if refused:
        return _refuse(refused)
    failed = commit_all(batch, overwrite)
    if failed is not None:  # a name taken meanwhile, a full disk: commit_all kept nothing
        target, error = failed
        return _refuse([(store.relative(target), reason(error), 409 if isinstance(error, FileExistsError) else 500)])
    for _, target in batch:
        store.notify_changed(target)
    return jsonify(saved=[to_wire(store.relative(target)) for _, target in batch]), 201


def _plan(store: FileStore, folder: str, uploads: list[Any], overwrite: bool
          ) -> tuple[list[tuple[StagedFile, Path]], list[tuple[str, str, int]]]:
    """Each upload's target, or why it is refused: (name, reason, HTTP status)."""
    batch: list[tuple[StagedFile, Path]] = []
    refused: list[tuple[str, str, int]] = []
    seen: set[Path] = set()
    for upload in uploads:
        staged, name = upload.stream, upload.filename or ""
        try:
            filename = from_wire(name.replace("\\", "/"))
            name = posixpath.join(folder.replace("\\", "/").strip("/"), filename)
            target = store.resolve(name)
            if target.is_dir():
                raise IsADirectoryError("a folder has that name")
            if target in seen:
                raise FileExistsError("given twice in this upload")
            if not overwrite and (target.exists() or target.is_symlink()):
                raise FileExistsError("exists (send overwrite=1 to replace it)")
        except FileExistsError as exc:
            refused.append((name, str(exc), 409))
            continue
        except (UnsafePath, IsADirectoryError) as exc:
            refused.append((name, f"refused name: {exc}", 400))
            continue
        seen.add(target)
        staged.transfer.file = store.relative(target)
        batch.append((staged, target))
    return batch, refused


def _refuse(refused: list[tuple[str, str, int]]) -> Any:
    codes = {code for _, _, code in refused}
    status = 400 if 400 in codes else max(codes)  # a bad name is the first thing to fix
    summary = "; ".join(f"{shown(name)}: {why}" for name, why, _ in refused)
    discard_staged(request, summary)
    return jsonify(error=f"nothing was kept: {summary}",
                   refused=[{"name": to_wire(name), "display": display(name)[0], "error": why}
                            for name, why, _ in refused]), status


@bp.delete("/api/files/<path:_werkzeug_name>")
@admin_required
def delete(_werkzeug_name: str) -> Any:
    name = route_name("/api/files/")
    try:
        services().store.delete(name)
    except NOT_FOUND as exc:
        abort(404, description=f"cannot delete {shown(name)}: {reason(exc)}")
    return jsonify(deleted=to_wire(name))


@bp.post("/api/folders")
@admin_required
def make_folder() -> Any:
    (name,) = json_names("path")
    try:
        services().store.mkdir(name)
    except FileExistsError:
        abort(409, description=f"{shown(name)} exists")
    except (UnsafePath, OSError) as exc:
        abort(400, description=f"cannot create {shown(name)}: {reason(exc)}")
    return jsonify(created=to_wire(name)), 201


@bp.post("/api/files/rename")
@admin_required
def rename() -> Any:
    source, target = json_names("from", "to")
    try:
        services().store.rename(source, target)
    except FileExistsError:
        abort(409, description=f"{shown(target)} exists")
    except FileNotFoundError:
        abort(404, description=f"{shown(source)} does not exist")
    except (UnsafePath, OSError) as exc:
        abort(400, description=f"cannot rename {shown(source)} to {shown(target)}: {reason(exc)}")
    return jsonify(renamed=to_wire(source), to=to_wire(target))


@bp.teardown_app_request
def drop_unfinished_uploads(exc: BaseException | None) -> None:
    discard_staged(request, "upload interrupted" if exc is None or not isinstance(exc, HTTPException)
                   else exc.description or "refused")


def configure(app: Any) -> None:
    """What the file routes need of the whole app: the upload size limit, JSON that never
    carries a lone surrogate, and a 400 (not werkzeug's 500) for a query that is not UTF-8."""
    # a quick refusal by Content-Length; each file's own size is checked as it streams in
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["sockdash"].store.max_upload + (1 << 20)
    app.json = ReadableJSONProvider(app)
    app.before_request(refuse_undecodable_query)

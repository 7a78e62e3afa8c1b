"""Files over HTTP: listing, downloads (Range), SHA-256, and the admin's upload, folder,
rename and delete. Every name goes through FileStore.resolve."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

import gevent
from flask import Blueprint, abort, jsonify, request, send_file
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sockets_core.files import UnsafePath

from .auth import admin_required, is_admin
from .context import services
from .uploads import discard_staged

bp = Blueprint("files_api", __name__)

NOT_FOUND = (UnsafePath, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


@bp.get("/api/files")
def list_files() -> Any:
    sub = request.args.get("path", "")
    store = services().store
    try:
        entries = store.list(sub)
    except NOT_FOUND as exc:
        abort(404, description=f"no folder {sub!r}: {exc}")
    return jsonify(path=sub.strip("/"), admin=is_admin(), max_upload=store.max_upload,
                   entries=[{"name": e.name, "path": e.path, "size": e.size, "modified": e.modified,
                             "type": "dir" if e.is_dir else "file"} for e in entries])


@bp.get("/files/<path:name>")
def download(name: str) -> Any:
    try:
        path, _ = services().store.open_for_reading(name)
    except NOT_FOUND as exc:
        abort(404, description=f"no file {name!r}: {exc}")
    # conditional=True gives Range requests (curl -C -, browser resume) and ETags.
    response = send_file(path, as_attachment=True, download_name=path.name, conditional=True)
    if request.method == "GET" and response.status_code in (200, 206) and response.content_length:
        range_note = response.headers.get("Content-Range", "")
        transfer = services().transfers.begin(
            "http", "download", f"{request.remote_addr}:{request.environ.get('REMOTE_PORT', '?')}",
            services().store.relative(path), response.content_length, range_note)
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
    name = request.args.get("path", "")
    store = services().store
    try:
        store.open_for_reading(name)
        # hashing a large file must not stall the event loop: hashlib releases the GIL
        digest = gevent.get_hub().threadpool.apply(store.sha256, (name,))
    except NOT_FOUND as exc:
        abort(404, description=f"no file {name!r}: {exc}")
    return jsonify(path=name, sha256=digest)


@bp.post("/api/files")
@admin_required
def upload() -> Any:
    store = services().store
    try:
        folder = request.args.get("path") or request.form.get("path", "")
        overwrite = (request.args.get("overwrite") or request.form.get("overwrite", "")) in ("1", "true")
        uploads = request.files.getlist("file")
    except RequestEntityTooLarge:
        discard_staged(request, "over the upload limit")
        abort(413, description=f"upload larger than the limit of {store.max_upload} bytes")
    if not uploads:
        abort(400, description="no file in the request (multipart field 'file')")
    saved = []
    for upload in uploads:
        name = posixpath.join(folder.replace("\\", "/").strip("/"), (upload.filename or "").replace("\\", "/"))
        staged = upload.stream
        try:
            target = store.resolve(name)
            if target.is_dir():
                raise IsADirectoryError(f"{name!r} is a folder")
            staged.transfer.file = store.relative(target)
            staged.commit(target, overwrite)
        except FileExistsError:
            discard_staged(request, "name taken")
            abort(409, description=f"{name!r} exists (send overwrite=1 to replace it)")
        except (UnsafePath, IsADirectoryError) as exc:
            discard_staged(request, str(exc))
            abort(400, description=f"refused name {name!r}: {exc}")
        saved.append(store.relative(target))
        store.notify_changed(target)
    return jsonify(saved=saved), 201


@bp.delete("/api/files/<path:name>")
@admin_required
def delete(name: str) -> Any:
    try:
        services().store.delete(name)
    except NOT_FOUND as exc:
        abort(404, description=f"cannot delete {name!r}: {exc}")
    return jsonify(deleted=name)


@bp.post("/api/folders")
@admin_required
def make_folder() -> Any:
    name = (request.get_json(silent=True) or {}).get("path", "")
    try:
        services().store.mkdir(name)
    except FileExistsError:
        abort(409, description=f"{name!r} exists")
    except (UnsafePath, OSError) as exc:
        abort(400, description=f"cannot create {name!r}: {exc}")
    return jsonify(created=name), 201


@bp.post("/api/files/rename")
@admin_required
def rename() -> Any:
    body = request.get_json(silent=True) or {}
    source, target = body.get("from", ""), body.get("to", "")
    try:
        services().store.rename(source, target)
    except FileExistsError:
        abort(409, description=f"{target!r} exists")
    except FileNotFoundError:
        abort(404, description=f"{source!r} does not exist")
    except (UnsafePath, OSError) as exc:
        abort(400, description=f"cannot rename {source!r} to {target!r}: {exc}")
    return jsonify(renamed=source, to=target)


@bp.teardown_app_request
def drop_unfinished_uploads(exc: BaseException | None) -> None:
    discard_staged(request, "upload interrupted" if exc is None or not isinstance(exc, HTTPException)
                   else exc.description or "refused")


def configure(app: Any) -> None:
    """Upload size limit for the whole request: the file plus a little multipart framing."""
    # a quick refusal by Content-Length; each file's own size is checked as it streams in
    app.config["MAX_CONTENT_LENGTH"] = app.extensions["sockdash"].store.max_upload + (1 << 20)

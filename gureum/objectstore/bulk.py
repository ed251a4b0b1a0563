"""Bulk middleware's two calls: ?bulk-delete (a list of paths) and ?extract-archive (a tar).

Each item is its own transaction, as in Swift: one failure is reported in
`Errors` and does not undo the others.
"""

from __future__ import annotations

import tarfile
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from gureum.http.errors import ApiError, BadRequest
from gureum.objectstore.access import Caller
from gureum.objectstore.limits import MAX_DELETES_PER_REQUEST, MAX_FAILED_DELETES, MAX_FAILED_EXTRACTIONS
from gureum.objectstore.store import BlobWriter

if TYPE_CHECKING:
    from gureum.objectstore.service import ObjectStoreService


def _status_line(status: int) -> str:
    from http import HTTPStatus  # noqa: PLC0415

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def bulk_delete(service: "ObjectStoreService", caller: Caller, project_id: str, body: bytes) -> dict[str, Any]:
    lines = [unquote(line.strip()) for line in body.decode("utf-8", "replace").splitlines() if line.strip()]
    if len(lines) > MAX_DELETES_PER_REQUEST:
        raise ApiError(f"Maximum Bulk Deletes: {MAX_DELETES_PER_REQUEST} per request", status=413)
    deleted = not_found = 0
    errors: list[list[str]] = []
    for line in lines:
        container, _, name = line.lstrip("/").partition("/")
        try:
            if not container:
                raise BadRequest("Invalid bulk delete path")
            if name:
                service.delete_object(caller, project_id, container, name)
            else:
                service.delete_container(caller, project_id, container)
            deleted += 1
        except ApiError as exc:
            if exc.status == 404:
                not_found += 1
            else:
                errors.append([line, _status_line(exc.status)])
                if len(errors) >= MAX_FAILED_DELETES:
                    break
    status = "400 Bad Request" if errors else "200 OK"
    return {"Number Deleted": deleted, "Number Not Found": not_found, "Response Body": "",
            "Response Status": status, "Errors": errors}


def extract_archive(service: "ObjectStoreService", caller: Caller, project_id: str, container: str,
                    archive_path: str, compression: str) -> dict[str, Any]:
    """Every regular file of the tar becomes an object (under `container`, or the tar's first path part)."""
    mode = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2"}.get(compression)
    if mode is None:
        raise BadRequest(f"Unsupported archive format: {compression}")
    created = 0
    errors: list[list[str]] = []
    made: set[str] = set()
    try:
        archive = tarfile.open(archive_path, mode)  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError):
        raise BadRequest("Invalid Tar File: not a readable archive") from None
    with archive:
        for member in archive:
            if not member.isfile():
                continue
            path = member.name.lstrip("./").lstrip("/")
            box, name = (container, path) if container else path.partition("/")[::2]
            try:
                if not box or not name:
                    raise BadRequest("Invalid archive path")
                if not container and box not in made:
                    service.create_container(caller, project_id, box, {})
                    made.add(box)
                plan = service.begin_put(caller, project_id, box, name, {}, member.size)
                source = archive.extractfile(member)
                writer: BlobWriter = service.store.new_writer(service.holder)
                try:
                    while source is not None and (chunk := source.read(1024 * 1024)):
                        writer.write(chunk)
                    blob = writer.finish()
                except BaseException:
                    writer.abort()
                    raise
                try:
                    service.store.commit(blob)
                    service.finish_put(plan, blob)
                except BaseException:
                    service.store.discard(blob)
                    raise
                created += 1
            except ApiError as exc:
                errors.append([f"/{box}/{name}", _status_line(exc.status)])
                if len(errors) >= MAX_FAILED_EXTRACTIONS:
                    break
    status = "400 Bad Request" if errors else "201 Created"
    return {"Number Files Created": created, "Response Body": "", "Response Status": status, "Errors": errors}


def render_bulk(result: dict[str, Any], accept: str) -> tuple[bytes, str]:
    import json  # noqa: PLC0415

    if "application/json" in accept:
        return json.dumps(result).encode(), "application/json; charset=utf-8"
    lines = []
    for key, value in result.items():
        if key == "Errors":
            lines.append("Errors:")
            lines.extend(f"{path}, {status}" for path, status in value)
        else:
            lines.append(f"{key}: {value}")
    return ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"

"""Volumes and snapshots (when the catalog has volumev3) and containers and objects (when
it has object-store): each through the service's own API at the catalog's endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.responses import Response

from gureum.dashboard.client import ApiFailed, ApiResponse
from gureum.dashboard.web import Page, back, page, put_body_through


def endpoint(p: Page, service_type: str) -> str:
    found = p.viewer.endpoint(service_type)
    if found is None:
        raise ApiFailed(ApiResponse(404, {}, b'{"message": "This cloud has no %s service."}' % service_type.encode()),
                        f"No {service_type} service")
    return found


@page
async def volumes(p: Page) -> Response:
    base = endpoint(p, "volumev3")
    found, snaps = await p.api.gather(p.api.get_json(f"{base}/volumes/detail", "Listing volumes"),
                                      p.api.get_json(f"{base}/snapshots/detail", "Listing snapshots"))
    return p.render("volumes.html", title="Volumes", volumes=sorted(found["volumes"], key=lambda v: v.get("name") or ""),
                    snapshots=snaps["snapshots"], notice=p.request.query_params.get("notice"))


@page
async def create_volume(p: Page) -> Response:
    base = endpoint(p, "volumev3")
    form = await p.form()
    name, size = str(form.get("name", "")).strip(), str(form.get("size", "")).strip()
    if not size.isdigit() or int(size) < 1:
        return back("/volumes/", "Size is a whole number of GB, at least 1 (field 'size').")
    answer = await p.api.call("POST", f"{base}/volumes", json_body={"volume": {"name": name or None, "size": int(size)}})
    return back("/volumes/", f"Creating volume {name}" if answer.ok else answer.error_message)


@page
async def delete_volume(p: Page) -> Response:
    base = endpoint(p, "volumev3")
    answer = await p.api.call("DELETE", f"{base}/volumes/{p.request.path_params['volume_id']}")
    return back("/volumes/", "Deleting the volume" if answer.ok else answer.error_message)


@page
async def snapshot_volume(p: Page) -> Response:
    base = endpoint(p, "volumev3")
    form = await p.form()
    answer = await p.api.call("POST", f"{base}/snapshots", json_body={"snapshot": {
        "volume_id": p.request.path_params["volume_id"], "name": str(form.get("name", "")).strip() or None}})
    return back("/volumes/", "Snapshot asked" if answer.ok else answer.error_message)


@page
async def containers(p: Page) -> Response:
    base = endpoint(p, "object-store")
    found = await p.api.get_json(base, "Listing containers", format="json")
    return p.render("containers.html", title="Containers", containers=found,
                    notice=p.request.query_params.get("notice"))


@page
async def create_container(p: Page) -> Response:
    base = endpoint(p, "object-store")
    form = await p.form()
    name = str(form.get("name", "")).strip()
    if not name or "/" in name:
        return back("/containers/", "A container name is not empty and has no '/' (field 'name').")
    answer = await p.api.call("PUT", f"{base}/{quote(name)}")
    return back("/containers/", f"Made container {name}" if answer.ok else answer.error_message)


@page
async def delete_container(p: Page) -> Response:
    base = endpoint(p, "object-store")
    answer = await p.api.call("DELETE", f"{base}/{quote(p.request.path_params['name'])}")
    return back("/containers/", "Container deleted" if answer.ok else answer.error_message)


@page
async def objects(p: Page) -> Response:
    base = endpoint(p, "object-store")
    name = p.request.path_params["name"]
    found = await p.api.get_json(f"{base}/{quote(name)}", "Listing objects", format="json")
    return p.render("objects.html", title=f"Container {name}", container=name, objects=found,
                    notice=p.request.query_params.get("notice"))


def object_name_problem(name: str) -> str | None:
    """What Swift would refuse in an object name, said before any byte is sent."""
    if not name:
        return "Give the object a name (field 'object'), or choose a file to take its name."
    if len(name.encode()) > 1024 or "\0" in name:
        return "An object name has at most 1024 bytes and no NUL (field 'object')."
    return None


@page
async def upload_object(p: Page) -> Response:
    """PUT from the page script: the body goes on to Swift as it arrives, with a progress bar there."""
    base = endpoint(p, "object-store")
    container, obj = p.request.path_params["name"], p.request.path_params["object"]
    problem = object_name_problem(obj)
    if problem:
        return Response(problem, status_code=400, media_type="text/plain")
    return await put_body_through(p, f"{base}/{quote(container)}/{quote(obj)}",
                                  p.request.headers.get("content-type") or "application/octet-stream")


@page
async def upload_object_form(p: Page) -> Response:
    """The same from a plain form (no script): multipart, spooled by Starlette, sent on in chunks."""
    base = endpoint(p, "object-store")
    container = p.request.path_params["name"]
    form = await p.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return back(f"/containers/{quote(container)}/", "Choose a file to upload (field 'file').")
    name = str(form.get("object", "")).strip() or upload.filename
    problem = object_name_problem(name)
    if problem:
        return back(f"/containers/{quote(container)}/", problem)

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await upload.read(1 << 20):
            yield chunk

    headers = {"content-type": upload.content_type or "application/octet-stream"}
    if upload.size is not None:
        headers["content-length"] = str(upload.size)
    answer = await p.api.call("PUT", f"{base}/{quote(container)}/{quote(name)}", headers=headers,
                              stream=chunks().__aiter__())
    return back(f"/containers/{quote(container)}/", f"Uploaded {name}" if answer.ok else answer.error_message)


@page
async def download_object(p: Page) -> Response:
    base = endpoint(p, "object-store")
    container, obj = p.request.path_params["name"], p.request.path_params["object"]
    answer = await p.api.call("GET", f"{base}/{quote(container)}/{quote(obj)}")
    if not answer.ok:
        raise ApiFailed(answer, "Reading the object")
    filename = obj.rsplit("/", 1)[-1].replace('"', "")
    return Response(answer.body, media_type=answer.headers.get("content-type", "application/octet-stream"), headers={
        "content-disposition": f'attachment; filename="{filename}"', "cache-control": "no-store",
        "x-content-type-options": "nosniff"})

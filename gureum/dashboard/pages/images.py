"""Images: the list, upload from the browser with progress, delete.

The browser cannot send X-Auth-Token (the token is HttpOnly), so the bytes go through a
same-origin pass-through that streams the request body into PUT /image/v2/images/{id}/file
in-process, chunk by chunk: nothing is buffered whole and the image API checks everything.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

from gureum.dashboard.session import PREFIX
from gureum.dashboard.web import Page, api_field, back, page, put_body_through

DISK_FORMATS = ("qcow2", "raw", "iso", "vmdk", "vdi", "vhd", "vhdx", "ami", "ari", "aki")
FIELDS = ("name", "disk_format", "visibility", "min_disk", "min_ram")


async def show(p: Page, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               status: int = 200) -> Response:
    images = await p.api.get_json("/image/v2/images", "Listing images", limit="1000")
    return p.render("images.html", status=status, title="Images",
                    images=sorted(images["images"], key=lambda i: (i.get("name") or "", i["id"])),
                    form=form or {"disk_format": "qcow2", "visibility": "private"}, errors=errors or {},
                    disk_formats=DISK_FORMATS, notice=p.request.query_params.get("notice"))


@page
async def images(p: Page) -> Response:
    return await show(p)


@page
async def create_image(p: Page) -> Response:
    """The image record; the page script then sends the file to upload_url (JSON answer),
    or a form without script gets the page back."""
    form = await p.form()
    wants_json = "application/json" in p.request.headers.get("accept", "")
    values = {key: str(form.get(key, "")).strip() for key in FIELDS}
    errors: dict[str, str] = {}
    if not values["name"]:
        errors["name"] = "Give the image a name."
    if values["disk_format"] not in DISK_FORMATS:
        errors["disk_format"] = "Choose a disk format."
    body: dict[str, Any] = {"name": values["name"], "disk_format": values["disk_format"],
                            "container_format": "bare", "visibility": values["visibility"] or "private"}
    for key in ("min_disk", "min_ram"):
        if values[key]:
            if not values[key].isdigit():
                errors[key] = f"{key.replace('_', ' ')} is a whole number."
            else:
                body[key] = int(values[key])
    if not errors:
        answer = await p.api.call("POST", "/image/v2/images", json_body=body)
        if answer.status == 201:
            image_id = answer.json()["id"]
            if wants_json:
                return JSONResponse({"id": image_id, "upload_url": f"{PREFIX}/images/{image_id}/file",
                                     "done_url": f"{PREFIX}/images/?notice=Uploaded {values['name']}"})
            return back("/images/", f"Made image {values['name']}; choose its file to upload it.")
        errors[api_field(answer.error_message, FIELDS)] = answer.error_message
    if wants_json:
        return JSONResponse({"error": "; ".join(f"{k}: {v}" for k, v in errors.items()), "fields": errors},
                            status_code=400)
    return await show(p, values, errors, status=400)


@page
async def upload_file(p: Page) -> Response:
    image_id = p.request.path_params["image_id"]
    return await put_body_through(p, f"/image/v2/images/{image_id}/file", "application/octet-stream")


@page
async def delete_image(p: Page) -> Response:
    image_id = p.request.path_params["image_id"]
    answer = await p.api.call("DELETE", f"/image/v2/images/{image_id}")
    return back("/images/", "Image deleted" if answer.ok else answer.error_message)

"""/v2.1/images: Nova's deprecated proxy to the image service, in Nova's shapes.

Nova asks Glance over HTTP; gureum asks its own image service in-process, with the
caller's context, so visibility, policy and protection are the image service's own.
The proxy answers up to microversion 2.35 and image metadata up to 2.38; above, 404
as in Nova.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.routing import BaseRoute, Route

from gureum.compute.api.common import links, microversion
from gureum.compute.quotas import limits_for
from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Forbidden, NotFound
from gureum.image.patching import Change
from gureum.image.views import BASE_KEYS

PROXY_MAX = 35  # MAX_PROXY_API_SUPPORT_VERSION
METADATA_MAX = 38
PAGE = 1000  # the image service's largest page
STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "deleted": "DELETED",
          "pending_delete": "DELETED", "killed": "ERROR"}
PROGRESS = {"queued": 25, "saving": 50, "active": 100}


def _check_version(req: ApiRequest, newest: int) -> None:
    if microversion(req).at_least(newest + 1):
        raise NotFound("The resource could not be found.")


def _get(req: ApiRequest, image_id: str) -> dict[str, Any]:
    try:
        return req.cloud.image.get_image(req.context, image_id)
    except NotFound as exc:
        raise NotFound("Image not found.") from exc


def metadata_of(image: dict[str, Any]) -> dict[str, Any]:
    """The image's own properties: what Nova calls its metadata."""
    return {k: v for k, v in image.items() if k not in BASE_KEYS}


def _image_links(req: ApiRequest, image_id: str) -> list[dict[str, str]]:
    image_root = req.base_url.rsplit("/", 1)[0] + "/image"
    return [*links(req, "images", image_id),
            {"rel": "alternate", "type": "application/vnd.openstack.image", "href": f"{image_root}/images/{image_id}"}]


def summary(req: ApiRequest, image: dict[str, Any]) -> dict[str, Any]:
    return {"id": image["id"], "name": image.get("name"), "links": _image_links(req, image["id"])}


def detail(req: ApiRequest, image: dict[str, Any]) -> dict[str, Any]:
    metadata = metadata_of(image)
    body: dict[str, Any] = {
        "id": image["id"], "name": image.get("name"),
        "minRam": int(image.get("min_ram") or 0), "minDisk": int(image.get("min_disk") or 0),
        "metadata": metadata, "created": image.get("created_at"), "updated": image.get("updated_at"),
        "status": STATUS.get(image.get("status") or "", "UNKNOWN"),
        "progress": PROGRESS.get(image.get("status") or "", 0),
        "OS-EXT-IMG-SIZE:size": image.get("size"),
        "links": _image_links(req, image["id"]),
    }
    server = metadata.get("instance_uuid")
    if server is not None:
        body["server"] = {"id": server, "links": links(req, "servers", str(server))}
    auto_disk = metadata.get("auto_disk_config")
    if auto_disk is not None:
        body["OS-DCF:diskConfig"] = "AUTO" if str(auto_disk).strip().lower() in ("1", "true", "t", "yes", "y", "on") \
            else "MANUAL"
    return body


def _int_param(req: ApiRequest, name: str) -> int | None:
    value = req.query.get(name)
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                         f"'{value}' is not an integer") from None
    if number < 0:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. must be >= 0")
    return number


def _glance_filters(req: ApiRequest) -> list[tuple[str, str]]:
    """Nova's filters in the image service's words (as Nova translates them for Glance v2)."""
    params: list[tuple[str, str]] = []
    for key, value in req.query.multi_items():
        if key == "name":
            params.append(("name", value))
        elif key == "status":
            params.append(("status", value.lower()))
        elif key == "changes-since":
            params.append(("updated_at", f"gte:{value}"))
        elif key == "server":
            params.append(("instance_uuid", value.rsplit("/", 1)[-1]))
        elif key == "type":
            params.append(("image_type", value))
        elif key.startswith("property-") and len(key) > len("property-"):
            params.append((key[len("property-"):], value))
    return params


def _list(req: ApiRequest, detailed: bool) -> dict[str, Any]:
    _check_version(req, PROXY_MAX)
    min_ram, min_disk = _int_param(req, "minRam"), _int_param(req, "minDisk")
    limit = _int_param(req, "limit")
    filters = _glance_filters(req)
    images: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        page, marker = req.cloud.image.list_images(
            req.context, [*filters, ("limit", str(PAGE)), *([("marker", marker)] if marker else [])])
        images += page
        if marker is None:
            break
    images = [i for i in images if (min_ram is None or (i.get("min_ram") or 0) >= min_ram)
              and (min_disk is None or (i.get("min_disk") or 0) >= min_disk)]
    wanted_marker = req.query.get("marker")
    if wanted_marker is not None:
        ids = [i["id"] for i in images]
        if wanted_marker not in ids:
            raise BadRequest(f"marker [{wanted_marker}] not found")
        images = images[ids.index(wanted_marker) + 1:]
    body: dict[str, Any] = {}
    if limit is not None and len(images) > limit:
        images = images[:limit]
    if limit and len(images) == limit:
        query = [(k, v) for k, v in req.query.multi_items() if k != "marker"] + [("marker", images[-1]["id"])]
        path = "images/detail" if detailed else "images"
        body["images_links"] = [{"rel": "next", "href": f"{req.base_url}/v2.1/{path}?{urlencode(query)}"}]
    return {"images": [detail(req, i) if detailed else summary(req, i) for i in images], **body}


@endpoint(summary="List images (proxy)")
def list_images(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detailed=False)


@endpoint(summary="List images with details (proxy)")
def list_images_detail(req: ApiRequest) -> dict[str, Any]:
    return _list(req, detailed=True)


@endpoint(summary="Show an image (proxy)")
def show_image(req: ApiRequest) -> dict[str, Any]:
    _check_version(req, PROXY_MAX)
    return {"image": detail(req, _get(req, req.path["image_id"]))}


@endpoint(status=204, summary="Delete an image (proxy)")
def delete_image(req: ApiRequest) -> None:
    _check_version(req, PROXY_MAX)
    try:
        req.cloud.image.delete_image(req.context, req.path["image_id"])
    except NotFound as exc:
        raise NotFound("Image not found.") from exc


# -- /images/{id}/metadata ----------------------------------------------------------------


def _items(req: ApiRequest, key: str) -> dict[str, str]:
    """The body's {key: {name: value}}, checked as Nova's image metadata schema checks it."""
    body = req.body
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {body!r}. '{key}' is a required property")
    if set(body) != {key}:
        extra = ", ".join(repr(k) for k in body if k != key)
        raise BadRequest(f"Additional properties are not allowed ({extra} were unexpected)")
    items = body[key]
    if not isinstance(items, dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {items!r}. {items!r} is not of type 'object'")
    for name, value in items.items():
        if not 1 <= len(name) <= 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {name!r}: keys are 1 to 255 characters.")
        if name in BASE_KEYS:
            raise BadRequest(f"Invalid input for field/attribute {key}: {name!r} is an image attribute, "
                             "not metadata.")
        if not isinstance(value, str) or len(value) > 255:
            raise BadRequest(f"Invalid input for field/attribute {key}. Value: {value!r}: values are strings of "
                             "at most 255 characters.")
    return items


def _save(req: ApiRequest, image: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """Make the image's metadata `wanted`, within the project's metadata_items quota."""
    with req.cloud.db.read() as session:
        allowed = limits_for(session, req.context.project_id or "").get("metadata_items", -1)
    if 0 <= allowed < len(wanted):
        raise Forbidden("Image metadata limit exceeded")
    current = metadata_of(image)
    changes = [Change(op="remove", path=(k,)) for k in current if k not in wanted]
    changes += [Change(op="add", path=(k,), value=v) for k, v in wanted.items() if current.get(k) != v]
    try:
        return metadata_of(req.cloud.image.update_image(req.context, image["id"], changes))
    except NotFound as exc:
        raise NotFound("Image not found.") from exc


def _image_for_metadata(req: ApiRequest) -> dict[str, Any]:
    _check_version(req, METADATA_MAX)
    return _get(req, req.path["image_id"])


@endpoint(summary="List image metadata (proxy)")
def list_metadata(req: ApiRequest) -> dict[str, Any]:
    return {"metadata": metadata_of(_image_for_metadata(req))}


@endpoint(json_body=True, summary="Create or update image metadata (proxy)")
def update_metadata(req: ApiRequest) -> dict[str, Any]:
    image = _image_for_metadata(req)
    items = _items(req, "metadata")
    return {"metadata": _save(req, image, {**metadata_of(image), **items})}


@endpoint(json_body=True, summary="Replace image metadata (proxy)")
def replace_metadata(req: ApiRequest) -> dict[str, Any]:
    image = _image_for_metadata(req)
    items = _items(req, "metadata")
    _save(req, image, items)
    return {"metadata": items}


@endpoint(summary="Show an image metadata item (proxy)")
def show_metadata_item(req: ApiRequest) -> dict[str, Any]:
    metadata = metadata_of(_image_for_metadata(req))
    key = req.path["key"]
    if key not in metadata:
        raise NotFound("The resource could not be found.")
    return {"meta": {key: metadata[key]}}


@endpoint(json_body=True, summary="Create or update an image metadata item (proxy)")
def set_metadata_item(req: ApiRequest) -> dict[str, Any]:
    image = _image_for_metadata(req)
    meta = _items(req, "meta")
    key = req.path["key"]
    if len(meta) != 1:
        raise BadRequest("Invalid input for field/attribute meta: give exactly one item.")
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    _save(req, image, {**metadata_of(image), **meta})
    return {"meta": meta}


@endpoint(status=204, summary="Delete an image metadata item (proxy)")
def delete_metadata_item(req: ApiRequest) -> None:
    image = _image_for_metadata(req)
    metadata = metadata_of(image)
    key = req.path["key"]
    if key not in metadata:
        raise NotFound("Invalid metadata key")
    _save(req, image, {k: v for k, v in metadata.items() if k != key})


@endpoint(summary="No image named")
def no_image(req: ApiRequest) -> None:
    """DELETE on the collection (a blank id): Nova has no such route, so 404, not 405."""
    raise NotFound("The resource could not be found.")


def routes() -> list[BaseRoute]:
    base = "/v2.1/images"
    return [
        Route(base, list_images, methods=["GET"]),
        Route(base, no_image, methods=["DELETE"]),
        Route(base + "/", no_image, methods=["GET", "DELETE", "PUT", "POST"]),
        Route(base + "/detail", list_images_detail, methods=["GET"]),
        Route(base + "/{image_id}", show_image, methods=["GET"]),
        Route(base + "/{image_id}", delete_image, methods=["DELETE"]),
        Route(base + "/{image_id}/metadata", list_metadata, methods=["GET"]),
        Route(base + "/{image_id}/metadata", update_metadata, methods=["POST"]),
        Route(base + "/{image_id}/metadata", replace_metadata, methods=["PUT"]),
        Route(base + "/{image_id}/metadata/{key}", show_metadata_item, methods=["GET"]),
        Route(base + "/{image_id}/metadata/{key}", set_metadata_item, methods=["PUT"]),
        Route(base + "/{image_id}/metadata/{key}", delete_metadata_item, methods=["DELETE"]),
    ]

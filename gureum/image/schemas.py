"""The JSON schemas glance serves at /v2/schemas/*, which also check what clients send."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from gureum.http.errors import BadRequest
from gureum.image.formats import CONTAINER_FORMATS, DISK_FORMATS

UUID_PATTERN = (
    "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"
)
IMAGE_STATUSES = [
    "queued",
    "saving",
    "active",
    "killed",
    "deleted",
    "uploading",
    "importing",
    "pending_delete",
    "deactivated",
]
VISIBILITIES = ["community", "public", "private", "shared"]
MEMBER_STATUSES = ["pending", "accepted", "rejected"]


def _image_properties() -> dict[str, Any]:
    return {
        "id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
        "name": {"type": ["null", "string"], "description": "Descriptive name for the image", "maxLength": 255},
        "status": {
            "type": "string",
            "readOnly": True,
            "description": "Status of the image",
            "enum": IMAGE_STATUSES,
        },
        "visibility": {"type": "string", "description": "Scope of image accessibility", "enum": VISIBILITIES},
        "protected": {"type": "boolean", "description": "If true, image will not be deletable."},
        "os_hidden": {
            "type": "boolean",
            "description": "If true, image will not appear in default image list response.",
        },
        "checksum": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": "md5 hash of image contents.",
            "maxLength": 32,
        },
        "os_hash_algo": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": "Algorithm to calculate the os_hash_value",
            "maxLength": 64,
        },
        "os_hash_value": {
            "type": ["null", "string"],
            "readOnly": True,
            "description": "Hexdigest of the image contents using the algorithm specified by the os_hash_algo",
            "maxLength": 128,
        },
        "owner": {"type": ["null", "string"], "description": "Owner of the image", "maxLength": 255},
        "size": {"type": ["null", "integer"], "readOnly": True, "description": "Size of image file in bytes"},
        "virtual_size": {
            "type": ["null", "integer"],
            "readOnly": True,
            "description": "Virtual size of image in bytes",
        },
        "container_format": {
            "type": ["null", "string"],
            "description": "Format of the container",
            "enum": [None, *CONTAINER_FORMATS],
        },
        "disk_format": {
            "type": ["null", "string"],
            "description": "Format of the disk",
            "enum": [None, *DISK_FORMATS],
        },
        "created_at": {"type": "string", "readOnly": True, "description": "Date and time of image registration"},
        "updated_at": {
            "type": "string",
            "readOnly": True,
            "description": "Date and time of the last image modification",
        },
        "tags": {
            "type": "array",
            "description": "List of strings related to the image",
            "items": {"type": "string", "maxLength": 255},
        },
        "direct_url": {
            "type": "string",
            "readOnly": True,
            "description": "URL to access the image file kept in external store",
        },
        "min_ram": {"type": "integer", "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer", "description": "Amount of disk space (in GB) required to boot image."},
        "self": {"type": "string", "readOnly": True, "description": "An image self url"},
        "file": {"type": "string", "readOnly": True, "description": "An image file url"},
        "stores": {
            "type": "string",
            "readOnly": True,
            "description": "Store in which image data resides.  Only present when the operator has enabled "
            "multiple stores.  May be a comma-separated list of store identifiers.",
        },
        "schema": {"type": "string", "readOnly": True, "description": "An image schema url"},
        "locations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "url": {"type": "string", "maxLength": 255},
                    "metadata": {"type": "object"},
                },
                "required": ["url", "metadata"],
            },
            "description": "A set of URLs to access the image file kept in external store",
        },
    }


def image_schema() -> dict[str, Any]:
    return {
        "name": "image",
        "properties": _image_properties(),
        # Free-form properties: glance keeps them as strings.
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def _collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def images_schema() -> dict[str, Any]:
    return _collection("images", image_schema())


def member_schema() -> dict[str, Any]:
    return {
        "name": "member",
        "properties": {
            "member_id": {"type": "string", "description": "An identifier for the image member (tenantId)"},
            "image_id": {"type": "string", "description": "An identifier for the image", "pattern": UUID_PATTERN},
            "created_at": {"type": "string", "description": "Date and time of image member creation"},
            "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
            "status": {"type": "string", "description": "The status of this image member", "enum": MEMBER_STATUSES},
            "schema": {"readOnly": True, "type": "string"},
        },
        "additionalProperties": False,
    }


def members_schema() -> dict[str, Any]:
    return _collection("members", member_schema())


SCHEMAS = {
    "image": image_schema,
    "images": images_schema,
    "member": member_schema,
    "members": members_schema,
}

_IMAGE_VALIDATOR = jsonschema.Draft4Validator(image_schema())


def validate_image_fields(fields: dict[str, Any]) -> None:
    """400 naming the field, in glance's words, when a value breaks the image schema."""
    error = jsonschema.exceptions.best_match(_IMAGE_VALIDATOR.iter_errors(copy.deepcopy(fields)))
    if error is None:
        return
    where = ".".join(str(p) for p in error.absolute_path) or "image"
    raise BadRequest(
        f"Provided object does not match schema 'image': {error.message}\n\n"
        f"Failed validating '{error.validator}' in schema['properties']['{where}']"
    )


# -- metadefs ------------------------------------------------------------------------------

_STAMPS = {
    "created_at": {"type": "string", "readOnly": True, "description": "Date and time of creation", "format": "date-time"},
    "updated_at": {"type": "string", "readOnly": True, "description": "Date and time of the last modification",
                   "format": "date-time"},
}
_PROPERTY_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "maxLength": 255},
    "title": {"type": "string"},
    "description": {"type": "string"},
    "operators": {"type": "array", "items": {"type": "string"}},
    "type": {"type": "string", "enum": ["array", "boolean", "integer", "number", "object", "string", None]},
    "required": {"type": "array", "items": {"type": "string"}},
    "minimum": {"type": "number"},
    "maximum": {"type": "number"},
    "maxLength": {"type": "integer", "minimum": 0},
    "minLength": {"type": "integer", "minimum": 0},
    "pattern": {"type": "string", "format": "regex"},
    "enum": {"type": "array"},
    "readonly": {"type": "boolean"},
    "default": {},
    "items": {"type": "object"},
    "maxItems": {"type": "integer", "minimum": 0},
    "minItems": {"type": "integer", "minimum": 0},
    "uniqueItems": {"type": "boolean", "default": False},
    "additionalItems": {"type": "boolean"},
}


def _metadef(name: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "properties": properties, "required": required, "additionalProperties": False}


def _metadef_collection(name: str, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            name: {"type": "array", "items": item},
            "first": {"type": "string"},
            "next": {"type": "string"},
            "schema": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def metadef_resource_type_schema() -> dict[str, Any]:
    return _metadef("resource_type_association", {
        "name": {"type": "string", "maxLength": 80, "description": "Resource type names should be aligned with "
                 "Heat resource types whenever possible"},
        "prefix": {"type": "string", "maxLength": 80},
        "properties_target": {"type": "string", "maxLength": 80},
        **_STAMPS,
    }, ["name"])


def metadef_property_schema() -> dict[str, Any]:
    return _metadef("property", dict(_PROPERTY_FIELDS), ["name", "title", "type"])


def metadef_object_schema() -> dict[str, Any]:
    return _metadef("object", {
        "name": {"type": "string", "maxLength": 80},
        "description": {"type": "string"},
        "required": {"type": "array", "items": {"type": "string"}},
        "properties": {"type": "object", "additionalProperties": {"type": "object", "properties": _PROPERTY_FIELDS}},
        "schema": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        **_STAMPS,
    }, ["name"])


def metadef_tag_schema() -> dict[str, Any]:
    return _metadef("tag", {"name": {"type": "string", "maxLength": 255}, **_STAMPS}, ["name"])


def metadef_namespace_schema() -> dict[str, Any]:
    return _metadef("namespace", {
        "namespace": {"type": "string", "maxLength": 80, "description": "The unique namespace text."},
        "display_name": {"type": "string", "maxLength": 80},
        "description": {"type": "string", "maxLength": 500},
        "visibility": {"type": "string", "enum": ["public", "private"]},
        "protected": {"type": "boolean"},
        "owner": {"type": "string", "maxLength": 255},
        "self": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
        "resource_type_associations": {"type": "array", "items": metadef_resource_type_schema()},
        "properties": {"type": "object", "additionalProperties": metadef_property_schema()},
        "objects": {"type": "array", "items": metadef_object_schema()},
        "tags": {"type": "array", "items": metadef_tag_schema()},
        **_STAMPS,
    }, ["namespace"])


SCHEMAS.update({
    "metadefs/namespace": metadef_namespace_schema,
    "metadefs/namespaces": lambda: _metadef_collection("namespaces", metadef_namespace_schema()),
    "metadefs/resource_type": metadef_resource_type_schema,
    "metadefs/resource_types": lambda: _metadef_collection("resource_type_associations", metadef_resource_type_schema()),
    "metadefs/object": metadef_object_schema,
    "metadefs/objects": lambda: _metadef_collection("objects", metadef_object_schema()),
    "metadefs/property": metadef_property_schema,
    "metadefs/properties": lambda: _metadef_collection("properties", metadef_property_schema()),
    "metadefs/tag": metadef_tag_schema,
    "metadefs/tags": lambda: _metadef_collection("tags", metadef_tag_schema()),
})

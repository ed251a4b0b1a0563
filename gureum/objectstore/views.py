"""What Swift answers: headers of accounts, containers and objects, listings in three formats, /info."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from gureum.objectstore import limits
from gureum.objectstore.accounts import AccountView
from gureum.objectstore.conditions import http_date
from gureum.objectstore.largeobjects import listing_time
from gureum.objectstore.listing import Subdir
from gureum.objectstore.metadata import title_header
from gureum.objectstore.objects import ObjectRead

JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "application/xml; charset=utf-8"
PLAIN_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=UTF-8"


def timestamp_text(value: float) -> str:
    return f"{value:016.5f}"


def account_headers(view: AccountView) -> dict[str, str]:
    headers = {
        "X-Account-Container-Count": str(view.container_count),
        "X-Account-Object-Count": str(view.object_count),
        "X-Account-Bytes-Used": str(view.bytes_used),
        "X-Timestamp": timestamp_text(view.created_at),
        "X-Put-Timestamp": timestamp_text(view.created_at),
        "Accept-Ranges": "bytes",
    }
    for policy, (containers, objects, size) in view.policy_stats.items():
        headers[f"X-Account-Storage-Policy-{policy}-Container-Count"] = str(containers)
        headers[f"X-Account-Storage-Policy-{policy}-Object-Count"] = str(objects)
        headers[f"X-Account-Storage-Policy-{policy}-Bytes-Used"] = str(size)
    for key, value in view.meta.items():
        headers["X-Account-Meta-" + title_header(key)] = value
    for key, value in view.quotas.items():
        headers["X-Account-" + title_header(key)] = value
    return headers


def container_headers(row: Any, show_acls: bool) -> dict[str, str]:
    headers = {
        "X-Container-Object-Count": str(row.object_count),
        "X-Container-Bytes-Used": str(row.bytes_used),
        "X-Timestamp": timestamp_text(row.created_at),
        "X-Put-Timestamp": timestamp_text(row.updated_at),
        "Last-Modified": http_date(row.updated_at),
        "X-Storage-Policy": row.storage_policy,
        "Accept-Ranges": "bytes",
    }
    for key, value in row.meta.items():
        if not show_acls and key.startswith("temp-url-key"):
            continue
        headers["X-Container-Meta-" + title_header(key)] = value
    if show_acls:
        if row.read_acl:
            headers["X-Container-Read"] = row.read_acl
        if row.write_acl:
            headers["X-Container-Write"] = row.write_acl
        if row.versions_location:
            headers["X-Versions-Location"] = row.versions_location
    return headers


def object_headers(read: ObjectRead) -> dict[str, str]:
    headers = {
        "Content-Type": read.content_type,
        "Etag": read.etag,
        "Last-Modified": http_date(read.timestamp),
        "X-Timestamp": timestamp_text(read.timestamp),
        "Accept-Ranges": "bytes",
    }
    for key, value in read.meta.items():
        headers["X-Object-Meta-" + title_header(key)] = value
    for key, value in read.headers.items():
        headers[title_header(key)] = value
    if read.kind == "slo":
        headers["X-Static-Large-Object"] = "True"
    if read.delete_at is not None:
        headers["X-Delete-At"] = str(int(read.delete_at))
    return headers


def meta_headers(meta: dict[str, str]) -> dict[str, str]:
    return {"X-Object-Meta-" + title_header(key): value for key, value in meta.items()}


def tempurl_disposition(name: str, filename: str | None, inline: bool) -> str:
    """TempURL downloads are attachments named after the object unless `inline` is asked."""
    from urllib.parse import quote  # noqa: PLC0415

    if inline:
        return f"inline; filename=\"{filename}\"" if filename else "inline"
    chosen = filename or name.rsplit("/", 1)[-1]
    return f"attachment; filename=\"{chosen}\"; filename*=UTF-8''{quote(chosen)}"


def cors_headers(container_meta: dict[str, str], origin: str) -> dict[str, str]:
    allowed = container_meta.get("access-control-allow-origin", "").split()
    if not origin or not ("*" in allowed or origin in allowed):
        return {}
    headers = {"Access-Control-Allow-Origin": "*" if "*" in allowed else origin}
    expose = ["cache-control", "content-language", "content-type", "expires", "last-modified", "pragma",
              "etag", "x-timestamp", "x-trans-id", "x-openstack-request-id"]
    expose += [h.strip() for h in container_meta.get("access-control-expose-headers", "").split(",") if h.strip()]
    headers["Access-Control-Expose-Headers"] = ", ".join(expose)
    return headers


# -- listings --------------------------------------------------------------------------------


def listing_format(query_format: str | None, accept: str) -> str:
    if query_format:
        fmt = query_format.lower()
        return fmt if fmt in ("json", "xml", "plain") else "plain"
    accept = accept.lower()
    if "application/json" in accept:
        return "json"
    if "application/xml" in accept or "text/xml" in accept:
        return "xml"
    return "plain"


def _container_entry(row: Any) -> dict[str, Any]:
    return {"name": row.name, "count": row.object_count, "bytes": row.bytes_used,
            "last_modified": listing_time(row.updated_at)}


def _object_entry(row: Any) -> dict[str, Any]:
    entry = {"name": row.name, "hash": row.etag, "bytes": row.size, "content_type": row.content_type,
             "last_modified": listing_time(row.timestamp)}
    if row.kind == "slo":
        entry["slo_etag"] = f'"{row.etag}"'
    return entry


def render_listing(entries: list[Any], fmt: str, level: str, name: str) -> tuple[bytes, str]:
    """(body, content type) of an account (containers) or container (objects) listing."""
    entry_of = _container_entry if level == "account" else _object_entry
    if fmt == "json":
        rows = [{"subdir": e.name} if isinstance(e, Subdir) else entry_of(e) for e in entries]
        return json.dumps(rows).encode(), JSON_TYPE
    if fmt == "xml":
        item = "container" if level == "account" else "object"
        parts = ['<?xml version="1.0" encoding="UTF-8"?>', f"\n<{level} name={quoteattr(name)}>"]
        for e in entries:
            if isinstance(e, Subdir):
                parts.append(f"<subdir name={quoteattr(e.name)}><name>{escape(e.name)}</name></subdir>")
                continue
            fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in entry_of(e).items())
            parts.append(f"<{item}>{fields}</{item}>")
        parts.append(f"</{level}>")
        return "".join(parts).encode(), XML_TYPE
    names = [e.name for e in entries]
    return "".join(n + "\n" for n in names).encode(), PLAIN_TYPE


def info_document() -> dict[str, Any]:
    """/info: Swift's limits and exactly the features served."""
    return {
        "swift": {
            "version": limits.SWIFT_VERSION,
            "max_file_size": limits.MAX_FILE_SIZE,
            "max_meta_name_length": limits.MAX_META_NAME_LENGTH,
            "max_meta_value_length": limits.MAX_META_VALUE_LENGTH,
            "max_meta_count": limits.MAX_META_COUNT,
            "max_meta_overall_size": limits.MAX_META_OVERALL_SIZE,
            "max_header_size": limits.MAX_HEADER_SIZE,
            "max_object_name_length": limits.MAX_OBJECT_NAME_LENGTH,
            "container_listing_limit": limits.LISTING_LIMIT,
            "account_listing_limit": limits.LISTING_LIMIT,
            "max_account_name_length": limits.MAX_ACCOUNT_NAME_LENGTH,
            "max_container_name_length": limits.MAX_CONTAINER_NAME_LENGTH,
            "extra_header_count": 0,
            "strict_cors_mode": True,
            "allow_account_management": False,
            "account_autocreate": True,
            "valid_api_versions": ["v1", "v1.0"],
            "policies": [{"name": p, "default": True} for p in limits.STORAGE_POLICIES],
        },
        "slo": {"max_manifest_segments": limits.MAX_MANIFEST_SEGMENTS,
                "max_manifest_size": limits.MAX_MANIFEST_SIZE, "min_segment_size": 1},
        "dlo": {"max_segments": limits.DLO_MAX_SEGMENTS},
        "tempurl": {"methods": ["GET", "HEAD", "PUT", "POST", "DELETE"],
                    "allowed_digests": ["sha1", "sha256", "sha512"],
                    "incoming_remove_headers": ["x-timestamp"], "incoming_allow_headers": [],
                    "outgoing_remove_headers": ["x-object-meta-*"], "outgoing_allow_headers": ["x-object-meta-public-*"]},
        "bulk_delete": {"max_deletes_per_request": limits.MAX_DELETES_PER_REQUEST,
                        "max_failed_deletes": limits.MAX_FAILED_DELETES},
        "bulk_upload": {"max_containers_per_extraction": limits.MAX_CONTAINERS_PER_EXTRACTION,
                        "max_failed_extractions": limits.MAX_FAILED_EXTRACTIONS},
        "account_quotas": {},
        "container_quotas": {},
        "versioned_writes": {"allowed_flags": ["x-versions-location"]},
    }


SERVED_FEATURES = ("slo", "dlo", "tempurl", "bulk_delete", "bulk_upload", "account_quotas", "container_quotas",
                   "versioned_writes")

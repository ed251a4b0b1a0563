"""S3's XML answers and errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from xml.sax.saxutils import escape

from gureum.objectstore.listing import Subdir

if TYPE_CHECKING:
    from gureum.objectstore.multipart import PartListing, UploadListing

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = "application/xml"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'

# Swift-side statuses as S3 codes, when the service gave no code of its own.
CODES = {400: "InvalidArgument", 401: "AccessDenied", 403: "AccessDenied", 405: "MethodNotAllowed",
         409: "Conflict", 411: "MissingContentLength", 412: "PreconditionFailed", 413: "EntityTooLarge",
         416: "InvalidRange", 422: "BadDigest", 499: "IncompleteBody", 501: "NotImplemented"}


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _el(name: str, value: Any) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def error_xml(code: str, message: str, resource: str, request_id: str) -> bytes:
    return (HEAD + "<Error>" + _el("Code", code) + _el("Message", message) + _el("Resource", resource)
            + _el("RequestId", request_id) + "</Error>").encode()


def list_buckets(project_id: str, rows: list[Any]) -> bytes:
    buckets = "".join("<Bucket>" + _el("Name", r.name) + _el("CreationDate", iso(r.created_at)) + "</Bucket>"
                      for r in rows if not isinstance(r, Subdir))
    return (HEAD + f'<ListAllMyBucketsResult xmlns="{NS}"><Owner>' + _el("ID", project_id)
            + _el("DisplayName", project_id) + f"</Owner><Buckets>{buckets}</Buckets></ListAllMyBucketsResult>").encode()


def _contents(row: Any, project_id: str) -> str:
    return ("<Contents>" + _el("Key", row.name) + _el("LastModified", iso(row.timestamp))
            + _el("ETag", f'"{row.etag}"') + _el("Size", row.size) + "<Owner>" + _el("ID", project_id)
            + _el("DisplayName", project_id) + "</Owner>" + _el("StorageClass", "STANDARD") + "</Contents>")


def list_objects(bucket: str, project_id: str, entries: list[Any], *, prefix: str, delimiter: str, max_keys: int,
                 truncated: bool, v2: bool, start: str, next_token: str, marker: str, fetch_owner: bool) -> bytes:
    parts = [HEAD, f'<ListBucketResult xmlns="{NS}">', _el("Name", bucket), _el("Prefix", prefix)]
    if v2:
        parts.append(_el("KeyCount", len(entries)))
        if start:
            parts.append(_el("StartAfter", start))
        if marker:
            parts.append(_el("ContinuationToken", marker))
        if truncated:
            parts.append(_el("NextContinuationToken", next_token))
    else:
        parts.append(_el("Marker", marker))
        if truncated and delimiter:
            parts.append(_el("NextMarker", next_token))
    parts.append(_el("MaxKeys", max_keys))
    if delimiter:
        parts.append(_el("Delimiter", delimiter))
    parts.append(_el("IsTruncated", "true" if truncated else "false"))
    for entry in entries:
        if isinstance(entry, Subdir):
            parts.append("<CommonPrefixes>" + _el("Prefix", entry.name) + "</CommonPrefixes>")
        else:
            contents = _contents(entry, project_id)
            if v2 and not fetch_owner:
                contents = contents[: contents.index("<Owner>")] + contents[contents.index("</Owner>") + 8:]
            parts.append(contents)
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


def location() -> bytes:
    return (HEAD + f'<LocationConstraint xmlns="{NS}"></LocationConstraint>').encode()


def delete_result(deleted: list[str], errors: list[tuple[str, str, str]], quiet: bool) -> bytes:
    parts = [HEAD, f'<DeleteResult xmlns="{NS}">']
    if not quiet:
        parts += ["<Deleted>" + _el("Key", key) + "</Deleted>" for key in deleted]
    parts += ["<Error>" + _el("Key", k) + _el("Code", c) + _el("Message", m) + "</Error>" for k, c, m in errors]
    parts.append("</DeleteResult>")
    return "".join(parts).encode()


def initiate_upload(bucket: str, key: str, upload_id: str) -> bytes:
    return (HEAD + f'<InitiateMultipartUploadResult xmlns="{NS}">' + _el("Bucket", bucket) + _el("Key", key)
            + _el("UploadId", upload_id) + "</InitiateMultipartUploadResult>").encode()


def complete_upload(location_url: str, bucket: str, key: str, etag: str) -> bytes:
    return (HEAD + f'<CompleteMultipartUploadResult xmlns="{NS}">' + _el("Location", location_url)
            + _el("Bucket", bucket) + _el("Key", key) + _el("ETag", etag)
            + "</CompleteMultipartUploadResult>").encode()


def copy_result(etag: str, timestamp: float) -> bytes:
    return (HEAD + f'<CopyObjectResult xmlns="{NS}">' + _el("LastModified", iso(timestamp)) + _el("ETag", etag)
            + "</CopyObjectResult>").encode()


def _person(tag: str, project_id: str) -> str:
    return f"<{tag}>" + _el("ID", project_id) + _el("DisplayName", project_id) + f"</{tag}>"


def list_uploads(bucket: str, project_id: str, listing: UploadListing, *, prefix: str, delimiter: str, key_marker: str,
                 upload_id_marker: str, max_uploads: int, url_encoding: bool) -> bytes:
    """ListMultipartUploadsResult; with encoding-type=url, keys and prefixes are percent-encoded."""
    enc = (lambda text: quote(text, safe="/")) if url_encoding else (lambda text: text)  # noqa: E731
    parts = [HEAD, f'<ListMultipartUploadsResult xmlns="{NS}">', _el("Bucket", bucket),
             _el("KeyMarker", enc(key_marker)), _el("UploadIdMarker", upload_id_marker),
             _el("NextKeyMarker", enc(listing.next_key if listing.truncated else "")),
             _el("NextUploadIdMarker", listing.next_upload_id if listing.truncated else ""),
             _el("Prefix", enc(prefix))]
    if delimiter:
        parts.append(_el("Delimiter", enc(delimiter)))
    if url_encoding:
        parts.append(_el("EncodingType", "url"))
    parts += [_el("MaxUploads", max_uploads), _el("IsTruncated", "true" if listing.truncated else "false")]
    for upload in listing.uploads:
        parts.append("<Upload>" + _el("Key", enc(upload.key)) + _el("UploadId", upload.upload_id)
                     + _person("Initiator", project_id) + _person("Owner", project_id)
                     + _el("StorageClass", "STANDARD") + _el("Initiated", iso(upload.initiated)) + "</Upload>")
    parts += ["<CommonPrefixes>" + _el("Prefix", enc(p)) + "</CommonPrefixes>" for p in listing.prefixes]
    parts.append("</ListMultipartUploadsResult>")
    return "".join(parts).encode()


def list_parts(bucket: str, key: str, upload_id: str, project_id: str, listing: PartListing, *, marker: int,
               max_parts: int) -> bytes:
    parts = [HEAD, f'<ListPartsResult xmlns="{NS}">', _el("Bucket", bucket), _el("Key", key),
             _el("UploadId", upload_id), _person("Initiator", project_id), _person("Owner", project_id),
             _el("StorageClass", "STANDARD"), _el("PartNumberMarker", marker),
             _el("NextPartNumberMarker", listing.next_part), _el("MaxParts", max_parts),
             _el("IsTruncated", "true" if listing.truncated else "false")]
    for part in listing.parts:
        parts.append("<Part>" + _el("PartNumber", part.part_number) + _el("LastModified", iso(part.modified))
                     + _el("ETag", f'"{part.etag}"') + _el("Size", part.size) + "</Part>")
    parts.append("</ListPartsResult>")
    return "".join(parts).encode()

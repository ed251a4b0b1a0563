"""Metadata definitions through the image app, in-process (tempest drives them over HTTP too)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from gureum.cloud import Cloud
from gureum.config import Settings
from gureum.db.base import Base
from gureum.http.context import RequestContext
from gureum.http.errors import Conflict, Forbidden, NotFound
from gureum.image.metadefs import MetadefService


def ctx(project: str, roles: tuple[str, ...]) -> RequestContext:
    return RequestContext(
        user_id="u", user_name="u", user_domain_id="default", user_domain_name="Default",
        roles=roles, project_id=project,
    )


ADMIN = ctx("a" * 32, ("admin", "member", "reader"))
READER = ctx("r" * 32, ("reader",))


@pytest.fixture
def metadefs(tmp_path: Path) -> Iterator[MetadefService]:
    cloud = Cloud(Settings(state_dir=tmp_path / "state"))
    cloud.start()
    if not inspect(cloud.db.engine).has_table("image_metadef_namespaces"):
        # The migration is regenerated from the models; until then, make the tables here.
        Base.metadata.create_all(cloud.db.engine)
    yield cloud.image.metadefs
    cloud.close()


def test_namespace_life(metadefs: MetadefService) -> None:
    resource = metadefs.list_resource_types(READER)["resource_types"][0]["name"]
    created = metadefs.create_namespace(ADMIN, {
        "namespace": "OS::Compute::Test", "display_name": "Test", "visibility": "public", "protected": True,
        "resource_type_associations": [{"name": resource, "prefix": "hw_"}],
        "properties": {"cpu": {"title": "CPU", "type": "string", "enum": ["a", "b"]}},
        "tags": [{"name": "t1"}],
    })
    assert created["self"] == "/v2/metadefs/namespaces/OS::Compute::Test"
    assert created["resource_type_associations"][0]["prefix"] == "hw_"
    shown = metadefs.show_namespace(READER, "OS::Compute::Test")
    assert shown["properties"]["cpu"]["enum"] == ["a", "b"] and shown["tags"] == [{"name": "t1"}]
    listed = metadefs.list_namespaces(READER, [("resource_types", resource)])["namespaces"]
    assert [n["namespace"] for n in listed] == ["OS::Compute::Test"]
    with pytest.raises(Forbidden):
        metadefs.delete_namespace(ADMIN, "OS::Compute::Test")
    with pytest.raises(Forbidden):
        metadefs.create_namespace(READER, {"namespace": "mine"})
    with pytest.raises(Conflict):
        metadefs.create_namespace(ADMIN, {"namespace": "OS::Compute::Test"})
    updated = metadefs.update_namespace(ADMIN, "OS::Compute::Test", {
        "namespace": "OS::Compute::Test", "visibility": "private", "protected": False,
    })
    assert (updated["visibility"], updated["protected"]) == ("private", False)
    with pytest.raises(NotFound):
        metadefs.show_namespace(READER, "OS::Compute::Test")  # private and not the reader's
    metadefs.delete_namespace(ADMIN, "OS::Compute::Test")
    with pytest.raises(NotFound):
        metadefs.show_namespace(ADMIN, "OS::Compute::Test")


def test_objects_properties_tags(metadefs: MetadefService) -> None:
    metadefs.create_namespace(ADMIN, {"namespace": "ns", "visibility": "public"})
    metadefs.create_object(ADMIN, "ns", {"name": "obj", "required": ["x"], "properties": {"x": {"type": "string"}}})
    renamed = metadefs.update_object(ADMIN, "ns", "obj", {"name": "obj2"})
    assert renamed["self"] == "/v2/metadefs/namespaces/ns/objects/obj2"
    assert [o["name"] for o in metadefs.list_objects(READER, "ns")["objects"]] == ["obj2"]

    prop = metadefs.create_property(ADMIN, "ns", {"name": "p", "title": "P", "type": "string"})
    assert prop == {"name": "p", "title": "P", "type": "string"}
    assert metadefs.update_property(ADMIN, "ns", "p", {"name": "p", "title": "Q", "type": "string"})["title"] == "Q"
    metadefs.delete_property(ADMIN, "ns", "p")
    assert metadefs.list_properties(READER, "ns") == {"properties": {}}

    metadefs.create_tags(ADMIN, "ns", {"tags": [{"name": "a"}, {"name": "b"}]})
    metadefs.create_tag(ADMIN, "ns", "c")
    with pytest.raises(Conflict):
        metadefs.create_tag(ADMIN, "ns", "A")  # tag names are case insensitive
    assert metadefs.update_tag(ADMIN, "ns", "c", {"name": "d"})["name"] == "d"
    assert sorted(t["name"] for t in metadefs.list_tags(READER, "ns")["tags"]) == ["a", "b", "d"]
    metadefs.delete_namespace_contents(ADMIN, "ns", "tags")
    assert metadefs.list_tags(READER, "ns") == {"tags": []}
    with pytest.raises(NotFound):
        metadefs.show_tag(READER, "ns", "a")

"""HTTP ↔ metadefs: glance's /v2/metadefs routes, thin."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from gureum.http.endpoint import ApiRequest, endpoint

NAMESPACE = "/v2/metadefs/namespaces/{namespace}"


def _metadefs(req: ApiRequest) -> Any:
    return req.cloud.image.metadefs


@endpoint(auth=True)
def list_namespaces(req: ApiRequest) -> Any:
    return _metadefs(req).list_namespaces(req.context, list(req.query.multi_items()))


@endpoint(auth=True, json_body=True)
def create_namespace(req: ApiRequest) -> Any:
    namespace = _metadefs(req).create_namespace(req.context, req.body)
    return 201, namespace, {"Location": f"{req.base_url}{namespace['self']}"}


@endpoint(auth=True)
def show_namespace(req: ApiRequest) -> Any:
    return _metadefs(req).show_namespace(req.context, req.path["namespace"])


@endpoint(auth=True, json_body=True)
def update_namespace(req: ApiRequest) -> Any:
    return _metadefs(req).update_namespace(req.context, req.path["namespace"], req.body)


@endpoint(auth=True, status=204)
def delete_namespace(req: ApiRequest) -> Any:
    _metadefs(req).delete_namespace(req.context, req.path["namespace"])


def _delete_contents(what: str) -> Any:
    @endpoint(auth=True, status=204)
    def delete_contents(req: ApiRequest) -> Any:
        _metadefs(req).delete_namespace_contents(req.context, req.path["namespace"], what)

    delete_contents.__name__ = f"delete_namespace_{what}"
    return delete_contents


@endpoint(auth=True)
def list_resource_types(req: ApiRequest) -> Any:
    return _metadefs(req).list_resource_types(req.context)


@endpoint(auth=True)
def list_associations(req: ApiRequest) -> Any:
    return _metadefs(req).list_associations(req.context, req.path["namespace"])


@endpoint(auth=True, json_body=True)
def add_association(req: ApiRequest) -> Any:
    return 201, _metadefs(req).add_association(req.context, req.path["namespace"], req.body)


@endpoint(auth=True, status=204)
def remove_association(req: ApiRequest) -> Any:
    _metadefs(req).remove_association(req.context, req.path["namespace"], req.path["resource_type"])


@endpoint(auth=True)
def list_properties(req: ApiRequest) -> Any:
    return _metadefs(req).list_properties(req.context, req.path["namespace"])


@endpoint(auth=True, json_body=True)
def create_property(req: ApiRequest) -> Any:
    return 201, _metadefs(req).create_property(req.context, req.path["namespace"], req.body)


@endpoint(auth=True)
def show_property(req: ApiRequest) -> Any:
    return _metadefs(req).show_property(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True, json_body=True)
def update_property(req: ApiRequest) -> Any:
    return _metadefs(req).update_property(req.context, req.path["namespace"], req.path["name"], req.body)


@endpoint(auth=True, status=204)
def delete_property(req: ApiRequest) -> Any:
    _metadefs(req).delete_property(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True)
def list_objects(req: ApiRequest) -> Any:
    return _metadefs(req).list_objects(req.context, req.path["namespace"])


@endpoint(auth=True, json_body=True)
def create_object(req: ApiRequest) -> Any:
    return 201, _metadefs(req).create_object(req.context, req.path["namespace"], req.body)


@endpoint(auth=True)
def show_object(req: ApiRequest) -> Any:
    return _metadefs(req).show_object(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True, json_body=True)
def update_object(req: ApiRequest) -> Any:
    return _metadefs(req).update_object(req.context, req.path["namespace"], req.path["name"], req.body)


@endpoint(auth=True, status=204)
def delete_object(req: ApiRequest) -> Any:
    _metadefs(req).delete_object(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True)
def list_tags(req: ApiRequest) -> Any:
    return _metadefs(req).list_tags(req.context, req.path["namespace"])


@endpoint(auth=True, json_body=True)
def create_tags(req: ApiRequest) -> Any:
    append = req.headers.get("x-openstack-append", "").lower() == "true"
    return 201, _metadefs(req).create_tags(req.context, req.path["namespace"], req.body, append=append)


@endpoint(auth=True)
def show_tag(req: ApiRequest) -> Any:
    return _metadefs(req).show_tag(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True)
def create_tag(req: ApiRequest) -> Any:
    return 201, _metadefs(req).create_tag(req.context, req.path["namespace"], req.path["name"])


@endpoint(auth=True, json_body=True)
def update_tag(req: ApiRequest) -> Any:
    return _metadefs(req).update_tag(req.context, req.path["namespace"], req.path["name"], req.body)


@endpoint(auth=True, status=204)
def delete_tag(req: ApiRequest) -> Any:
    _metadefs(req).delete_tag(req.context, req.path["namespace"], req.path["name"])


ROUTES = [
    Route("/v2/metadefs/namespaces", list_namespaces, methods=["GET"]),
    Route("/v2/metadefs/namespaces", create_namespace, methods=["POST"]),
    Route(NAMESPACE, show_namespace, methods=["GET"]),
    Route(NAMESPACE, update_namespace, methods=["PUT"]),
    Route(NAMESPACE, delete_namespace, methods=["DELETE"]),
    Route("/v2/metadefs/resource_types", list_resource_types, methods=["GET"]),
    Route(NAMESPACE + "/resource_types", list_associations, methods=["GET"]),
    Route(NAMESPACE + "/resource_types", add_association, methods=["POST"]),
    Route(NAMESPACE + "/resource_types/{resource_type}", remove_association, methods=["DELETE"]),
    Route(NAMESPACE + "/properties", list_properties, methods=["GET"]),
    Route(NAMESPACE + "/properties", create_property, methods=["POST"]),
    Route(NAMESPACE + "/properties", _delete_contents("properties"), methods=["DELETE"]),
    Route(NAMESPACE + "/properties/{name}", show_property, methods=["GET"]),
    Route(NAMESPACE + "/properties/{name}", update_property, methods=["PUT"]),
    Route(NAMESPACE + "/properties/{name}", delete_property, methods=["DELETE"]),
    Route(NAMESPACE + "/objects", list_objects, methods=["GET"]),
    Route(NAMESPACE + "/objects", create_object, methods=["POST"]),
    Route(NAMESPACE + "/objects", _delete_contents("objects"), methods=["DELETE"]),
    Route(NAMESPACE + "/objects/{name}", show_object, methods=["GET"]),
    Route(NAMESPACE + "/objects/{name}", update_object, methods=["PUT"]),
    Route(NAMESPACE + "/objects/{name}", delete_object, methods=["DELETE"]),
    Route(NAMESPACE + "/tags", list_tags, methods=["GET"]),
    Route(NAMESPACE + "/tags", create_tags, methods=["POST"]),
    Route(NAMESPACE + "/tags", _delete_contents("tags"), methods=["DELETE"]),
    Route(NAMESPACE + "/tags/{name}", show_tag, methods=["GET"]),
    Route(NAMESPACE + "/tags/{name}", create_tag, methods=["POST"]),
    Route(NAMESPACE + "/tags/{name}", update_tag, methods=["PUT"]),
    Route(NAMESPACE + "/tags/{name}", delete_tag, methods=["DELETE"]),
]

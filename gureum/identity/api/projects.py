"""/v3/projects, with hierarchy and tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from gureum.http.endpoint import ApiRequest, endpoint
from gureum.http.errors import BadRequest, Conflict, Forbidden, NotFound
from gureum.identity import views
from gureum.identity.api.common import DESCRIPTION, ENABLED, NAME_64 as NAME, NULLABLE_ID, TAGS, get_or_404, query_bool, wrapped
from gureum.identity.bootstrap import DEFAULT_DOMAIN_ID
from gureum.identity.models import Domain, Project, RoleAssignment

CREATE = wrapped(
    "project",
    {
        "name": NAME,
        "description": DESCRIPTION,
        "enabled": ENABLED,
        "domain_id": NULLABLE_ID,
        "parent_id": NULLABLE_ID,
        "is_domain": {"type": "boolean"},
        "tags": TAGS,
        "options": {"type": "object"},
    },
    required=("name",),
)
UPDATE = wrapped(
    "project",
    {"name": NAME, "description": DESCRIPTION, "enabled": ENABLED, "tags": TAGS, "options": {"type": "object"},
     "domain_id": NULLABLE_ID, "parent_id": NULLABLE_ID, "is_domain": {"type": "boolean"}},
)
CORE = {"name", "description", "enabled", "domain_id", "parent_id", "is_domain", "tags", "options", "id", "links"}
TAG = {"type": "string", "minLength": 1, "maxLength": 255}


def _target(p: Project) -> dict[str, Any]:
    return {
        "target.project.id": p.id,
        "target.project.domain_id": p.domain_id,
        "target.project": {"id": p.id, "domain_id": p.domain_id},
    }


def _duplicate(name: str) -> Conflict:
    return Conflict(
        "Conflict occurred attempting to store project - it is not permitted to have two projects "
        f"with the same name in the same domain : {name}."
    )


def _tag_filter(projects: list[Project], query: Any) -> list[Project]:
    def split(key: str) -> set[str] | None:
        return set(query[key].split(",")) if key in query else None

    tags_all, tags_any = split("tags"), split("tags-any")
    not_all, not_any = split("not-tags"), split("not-tags-any")
    result = []
    for p in projects:
        tags = set(p.tags or [])
        if tags_all is not None and not tags_all <= tags:
            continue
        if tags_any is not None and not tags_any & tags:
            continue
        if not_all is not None and not_all <= tags:
            continue
        if not_any is not None and not_any & tags:
            continue
        result.append(p)
    return result


@endpoint(summary="List projects")
def list_projects(req: ApiRequest) -> dict[str, Any]:
    domain_id = req.query.get("domain_id")
    req.cloud.policy.enforce(req.context, "identity:list_projects", {"target.domain_id": domain_id})
    query = select(Project).order_by(Project.name)
    if "is_domain" in req.query and query_bool(req.query["is_domain"]):
        return views.collection("projects", [], str(req.request.url))
    for key in ("name", "domain_id"):
        if key in req.query:
            query = query.where(getattr(Project, key) == req.query[key])
    if "enabled" in req.query:
        query = query.where(Project.enabled.is_(query_bool(req.query["enabled"])))
    with req.cloud.db.read() as session:
        projects = list(session.execute(query).scalars())
    if "parent_id" in req.query:
        parent = req.query["parent_id"]
        projects = [p for p in projects if (p.parent_id or p.domain_id) == parent]
    projects = _tag_filter(projects, req.query)
    return views.collection("projects", [views.project(p, req.base_url) for p in projects], str(req.request.url))


@endpoint(schema=CREATE, status=201, summary="Create a project")
def create_project(req: ApiRequest) -> tuple[int, dict[str, Any]]:
    req.cloud.policy.enforce(req.context, "identity:create_project")
    ref = req.body["project"]
    if ref.get("is_domain"):
        raise BadRequest("Invalid input for field 'is_domain': gureum keeps domains apart; use POST /v3/domains.")
    try:
        with req.cloud.identity.write() as session:
            parent_id = ref.get("parent_id")
            domain_id = ref.get("domain_id")
            parent = None
            if parent_id:
                if session.get(Domain, parent_id) is not None and not domain_id:
                    domain_id, parent_id = parent_id, None
                else:
                    parent = session.get(Project, parent_id)
                    if parent is None:
                        raise NotFound(f"Could not find project: {parent_id}.")
                    if domain_id and domain_id != parent.domain_id:
                        raise BadRequest("Invalid input for field 'domain_id': it must be the parent project's domain.")
                    domain_id = parent.domain_id
            domain_id = domain_id or req.context.project_domain_id or req.context.domain_id or DEFAULT_DOMAIN_ID
            if session.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if parent_id == domain_id:
                parent_id = None
            if session.execute(
                select(Project.id).where(Project.name == ref["name"], Project.domain_id == domain_id)
            ).first():
                raise _duplicate(ref["name"])
            project = Project(
                name=ref["name"],
                domain_id=domain_id,
                parent_id=parent_id,
                description=ref.get("description") or "",
                enabled=ref.get("enabled", True),
                tags=ref.get("tags", []),
                extra={k: v for k, v in ref.items() if k not in CORE},
            )
            session.add(project)
            session.flush()
            return 201, {"project": views.project(project, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(ref["name"]) from exc


def _subtree(session: Any, project_id: str) -> list[Project]:
    found: list[Project] = []
    frontier = [project_id]
    while frontier:
        children = list(session.execute(select(Project).where(Project.parent_id.in_(frontier))).scalars())
        found.extend(children)
        frontier = [c.id for c in children]
    return found


def _parents(session: Any, project: Project) -> list[Project]:
    found: list[Project] = []
    seen = {project.id}
    while project.parent_id and project.parent_id not in seen:
        parent = session.get(Project, project.parent_id)
        if parent is None:
            break
        seen.add(parent.id)
        found.append(parent)
        project = parent
    return found


@endpoint(summary="Show a project")
def get_project(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        project = get_or_404(session, Project, req.path["project_id"], "project")
        req.cloud.policy.enforce(req.context, "identity:get_project", _target(project))
        body = views.project(project, req.base_url)
        if "parents_as_ids" in req.query:
            ids: Any = None
            for parent in reversed(_parents(session, project)):
                ids = {parent.id: ids}
            body["parents"] = ids
        if "parents_as_list" in req.query:
            body["parents"] = [{"project": views.project(p, req.base_url)} for p in _parents(session, project)]
        if "subtree_as_list" in req.query:
            body["subtree"] = [{"project": views.project(p, req.base_url)} for p in _subtree(session, project.id)]
        if "subtree_as_ids" in req.query:
            def ids_of(pid: str) -> Any:
                children = session.execute(select(Project.id).where(Project.parent_id == pid)).scalars().all()
                return {c: ids_of(c) for c in children} or None

            body["subtree"] = ids_of(project.id)
        return {"project": body}


@endpoint(schema=UPDATE, summary="Update a project")
def update_project(req: ApiRequest) -> dict[str, Any]:
    ref = req.body["project"]
    try:
        with req.cloud.identity.write() as session:
            project = get_or_404(session, Project, req.path["project_id"], "project")
            req.cloud.policy.enforce(req.context, "identity:update_project", _target(project))
            if "domain_id" in ref and ref["domain_id"] != project.domain_id:
                raise BadRequest("Invalid input for field 'domain_id': a project cannot move to another domain.")
            if "parent_id" in ref and ref["parent_id"] not in (project.parent_id, project.domain_id if not project.parent_id else None):
                raise Forbidden("Update of `parent_id` is not allowed.")
            if ref.get("is_domain"):
                raise BadRequest("Invalid input for field 'is_domain': it cannot be changed.")
            if "name" in ref and ref["name"] != project.name and session.execute(
                select(Project.id).where(Project.name == ref["name"], Project.domain_id == project.domain_id)
            ).first():
                raise _duplicate(ref["name"])
            for key in ("name", "enabled", "tags"):
                if key in ref:
                    setattr(project, key, ref[key])
            if "description" in ref:
                project.description = ref["description"] or ""
            project.extra = {**(project.extra or {}), **{k: v for k, v in ref.items() if k not in CORE}}
            session.flush()
            return {"project": views.project(project, req.base_url)}
    except IntegrityError as exc:
        raise _duplicate(str(ref.get("name"))) from exc


@endpoint(summary="Delete a project")
def delete_project(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        project = get_or_404(session, Project, req.path["project_id"], "project")
        req.cloud.policy.enforce(req.context, "identity:delete_project", _target(project))
        if session.execute(select(Project.id).where(Project.parent_id == project.id)).first():
            raise Forbidden(
                f"Cannot delete project {project.id} since it is not a leaf in the hierarchy. "
                "Delete its child projects first."
            )
        session.execute(
            delete(RoleAssignment).where(RoleAssignment.target_type == "project", RoleAssignment.target_id == project.id)
        )
        session.delete(project)


# -- tags -----------------------------------------------------------------------


def _tagged_project(req: ApiRequest, session: Any, action: str) -> Project:
    project = get_or_404(session, Project, req.path["project_id"], "project")
    req.cloud.policy.enforce(req.context, action, _target(project))
    return project


@endpoint(summary="List a project's tags")
def list_project_tags(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.db.read() as session:
        project = _tagged_project(req, session, "identity:list_project_tags")
        return {"tags": list(project.tags or [])}


@endpoint(summary="Check a project tag")
def get_project_tag(req: ApiRequest) -> None:
    with req.cloud.db.read() as session:
        project = _tagged_project(req, session, "identity:get_project_tag")
        if req.path["tag"] not in (project.tags or []):
            raise NotFound(f"Could not find project tag: {req.path['tag']}.")


@endpoint(schema={"type": "object", "properties": {"tags": TAGS}, "required": ["tags"]}, summary="Replace tags")
def update_project_tags(req: ApiRequest) -> dict[str, Any]:
    with req.cloud.identity.write() as session:
        project = _tagged_project(req, session, "identity:update_project_tags")
        project.tags = list(req.body["tags"])
        return {"tags": project.tags, "links": {"self": str(req.request.url)}}


@endpoint(status=201, summary="Add a tag")
def create_project_tag(req: ApiRequest) -> Any:
    tag = req.path["tag"]
    if not tag or len(tag) > 255 or "," in tag or "/" in tag:
        raise BadRequest("Invalid input for field 'tag': 1 to 255 characters, no ',' or '/'.")
    with req.cloud.identity.write() as session:
        project = _tagged_project(req, session, "identity:create_project_tag")
        tags = list(project.tags or [])
        if tag not in tags:
            if len(tags) >= 80:
                raise BadRequest("Invalid input for field 'tags': a project has at most 80 tags.")
            tags.append(tag)
        project.tags = tags
    return 201, None, {"Location": str(req.request.url)}


@endpoint(summary="Remove all tags")
def delete_project_tags(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        project = _tagged_project(req, session, "identity:delete_project_tags")
        project.tags = []


@endpoint(summary="Remove a tag")
def delete_project_tag(req: ApiRequest) -> None:
    with req.cloud.identity.write() as session:
        project = _tagged_project(req, session, "identity:delete_project_tag")
        if req.path["tag"] not in (project.tags or []):
            raise NotFound(f"Could not find project tag: {req.path['tag']}.")
        project.tags = [t for t in project.tags if t != req.path["tag"]]

"""Key pairs: a new private key goes to the browser once, as a .pem download the page's
scripts never see (a plain form POST answered with an attachment, no-store); import; delete."""

from __future__ import annotations

import re

from starlette.responses import Response

from gureum.dashboard.web import Page, back, page

NAME = re.compile(r"^[A-Za-z0-9 _.@-]{1,255}$")


async def show(p: Page, form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
               status: int = 200) -> Response:
    found = await p.api.get_json("/compute/v2.1/os-keypairs", "Listing key pairs")
    return p.render("keypairs.html", status=status, title="Key pairs",
                    keypairs=sorted((k["keypair"] for k in found["keypairs"]), key=lambda k: k["name"]),
                    form=form or {}, errors=errors or {}, notice=p.request.query_params.get("notice"))


@page
async def keypairs(p: Page) -> Response:
    return await show(p)


@page
async def create_keypair(p: Page) -> Response:
    form = await p.form()
    values = {"name": str(form.get("name", "")).strip(), "public_key": str(form.get("public_key", "")).strip()}
    if not NAME.match(values["name"]):
        return await show(p, values, {"name": "A key pair name has letters, digits, spaces, _ . @ - (1 to 255)."},
                          status=400)
    body = {"name": values["name"], "type": "ssh"}
    if values["public_key"]:
        body["public_key"] = values["public_key"]
    answer = await p.api.call("POST", "/compute/v2.1/os-keypairs", json_body={"keypair": body})
    if not answer.ok:
        field = "public_key" if "public" in answer.error_message.lower() and values["public_key"] else "name"
        return await show(p, values, {field: answer.error_message}, status=400)
    made = answer.json()["keypair"]
    if "private_key" not in made:
        return back("/keypairs/", f"Imported {made['name']}")
    filename = re.sub(r"[^A-Za-z0-9_.-]", "_", made["name"]) + ".pem"
    return Response(made["private_key"], media_type="application/x-pem-file", headers={
        "content-disposition": f'attachment; filename="{filename}"',
        "cache-control": "no-store", "pragma": "no-cache", "x-content-type-options": "nosniff"})


@page
async def delete_keypair(p: Page) -> Response:
    answer = await p.api.call("DELETE", f"/compute/v2.1/os-keypairs/{p.request.path_params['name']}")
    return back("/keypairs/", "Key pair deleted" if answer.ok else answer.error_message)

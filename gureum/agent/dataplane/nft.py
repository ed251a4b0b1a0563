"""Running nft: one atomic transaction per ruleset, in a namespace.

Each table of ours is replaced whole in one `nft -f` transaction: the file
first declares the table (so deleting it never fails), deletes it and writes
it again. The kernel applies the file all or nothing, so packets never see
half a ruleset, and conntrack entries (which live outside tables) survive, so
established connections and NAT bindings keep flowing. Tables of others are
never named, so never touched.
"""

from __future__ import annotations

import subprocess

NFT = "nft"
_TIMEOUT_SECONDS = 30


class NftError(RuntimeError):
    pass


def _argv(namespace: str | None, *arguments: str) -> list[str]:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    return [*prefix, NFT, *arguments]


def run(namespace: str | None, script: str) -> None:
    result = subprocess.run(_argv(namespace, "-f", "-"), input=script, capture_output=True, text=True,
                            timeout=_TIMEOUT_SECONDS, check=False)
    if result.returncode != 0:
        raise NftError(result.stderr.strip() or f"nft exited with {result.returncode}")


def replace_tables(namespace: str | None, tables: dict[tuple[str, str], str]) -> None:
    """Replace each (family, name) table with its body (the text inside `table ... { }`)
    in a single transaction; a body of None removes the table."""
    run(namespace, "".join(_replace(family, name, body) for (family, name), body in tables.items()))


def delete_tables(namespace: str | None, tables: list[tuple[str, str]]) -> None:
    run(namespace, "".join(f"table {family} {name} {{\n}}\ndelete table {family} {name}\n"
                           for family, name in tables))


def _replace(family: str, name: str, body: str | None) -> str:
    script = f"table {family} {name} {{\n}}\ndelete table {family} {name}\n"
    if body is not None:
        script += f"table {family} {name} {{\n{body}}}\n"
    return script


def existing_tables(namespace: str | None) -> set[tuple[str, str]]:
    result = subprocess.run(_argv(namespace, "list", "tables"), capture_output=True, text=True,
                            timeout=_TIMEOUT_SECONDS, check=False)
    if result.returncode != 0:
        raise NftError(result.stderr.strip() or f"nft list tables exited with {result.returncode}")
    tables = set()
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table":
            tables.add((words[1], words[2]))
    return tables

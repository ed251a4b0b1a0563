"""`gureum down`: stop a state dir's controller; with --purge, also clean what it made on this host.

Plain `down` stops the controller (and with it the agent `up` runs), and says
that guests keep running: they outlive the controller by design, as after a
crash. `--purge` asks before it stops guests (unless --yes), stops the
controller first (so no agent builds anything again), then removes each thing
purge.py finds, one line each. The state dir stays unless asked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from gureum.config import load_settings_file
from gureum.running import RunRecord, read_record, running_controller, stop_controller

Say = Callable[[str], None]


def _stop_controller(record: RunRecord, say: Say) -> bool:
    say(f"stopping gureum {record.command} (pid {record.pid}) at {record.url} ...")
    if not stop_controller(record):
        say(f"gureum {record.command} (pid {record.pid}) did not stop within a minute: "
            f"see its log, or kill {record.pid}")
        return False
    say(f"stopped gureum {record.command} (pid {record.pid})")
    return True


def stop(state_dir: Path, say: Say) -> int:
    from gureum import purge  # noqa: PLC0415 - pulls in the dataplane modules

    record = running_controller(state_dir)
    if record is None:
        say(f"nothing to stop: no gureum up or serve runs for the state dir {state_dir}")
    elif not _stop_controller(record, say):
        return 1
    guests = purge.guests(state_dir)
    if guests:
        say(f"{len(guests)} guest(s) keep running (they outlive the controller); "
            "`gureum down --purge` stops them and removes the rest")
    return 0


def confirm(question: str) -> bool:
    """Yes only for y/yes typed by someone; no answer (no terminal, end of input) is no."""
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def purge(state_dir: Path, say: Say, assume_yes: bool, remove_state_dir: bool,
          ask: Callable[[str], bool] = confirm) -> int:
    from gureum import purge as found_on_host  # noqa: PLC0415

    if not state_dir.exists():
        say(f"nothing to purge: there is no state dir {state_dir}")
        return 0
    guests = found_on_host.guests(state_dir)
    if guests and not assume_yes:
        say(f"these {len(guests)} guest(s) of {state_dir} will be stopped and lost:")
        for guest in guests:
            say(f"  {guest.name}")
        sys.stdout.flush()
        if not ask("stop them and purge? [y/N] "):
            say("nothing removed")
            return 1
    record = running_controller(state_dir)
    if record is not None and not _stop_controller(record, say):
        return 1
    settings = load_settings_file(state_dir / "gureum.yaml")
    dataplanes = found_on_host.dataplanes_of(state_dir, read_record(state_dir), settings.get("agent_netns", ""),
                                             settings.get("agent_name_prefix", ""))
    things = found_on_host.everything(state_dir, dataplanes, remove_state_dir)
    if not things:
        say(f"nothing of gureum's was left on this host for the state dir {state_dir}")
    failures = found_on_host.remove(things, say)
    if not remove_state_dir and state_dir.exists():
        say(f"kept the state dir {state_dir}: its database still describes the cloud, and the next gureum up "
            "builds its networks and guests again (--remove-state-dir deletes it)")
    return 1 if failures else 0

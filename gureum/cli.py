"""The gureum command: `up` (all-in-one), `serve` (a controller), `agent`, `down`, `status`."""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gureum import __version__
from gureum.config import DEFAULT_PORT, Settings, default_state_dir, load_settings_file
from gureum.running import DEFAULT_NAME_PREFIX, DataplaneRecord

log = logging.getLogger("gureum")
DEFAULTS = Settings()


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Adds "(default: X)" to an option's help, once: not when the help already says its default
    (the real one often is not the argparse default: None means "from settings"), nor for flags."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default in (None, "", [], argparse.SUPPRESS) or isinstance(default, bool):
            return text
        return f"{text} (default: %(default)s)"


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, str(DEFAULT_PORT)
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r}: expected ADDR:PORT with a port from 1 to 65535")
    return host, int(port)


def openstack_command() -> str:
    """How to call the openstack client from here: its name when the shell finds it (an active
    venv, a system package), else its path beside this interpreter (./scripts/up's .venv)."""
    import shutil  # noqa: PLC0415

    beside = Path(sys.executable).parent / "openstack"
    if shutil.which("openstack") or not beside.exists():
        return "openstack"
    return str(beside)


def add_controller_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=None,
                        help=f"where all state lives (default: {default_state_dir()})")
    parser.add_argument("--listen", type=parse_listen, default=None, metavar="ADDR:PORT",
                        help="address and port of the one API port "
                             f"(default: {DEFAULTS.listen_host}:{DEFAULTS.listen_port})")
    parser.add_argument("--public-url", default=None,
                        help="URL clients use to reach this controller (default: derived from --listen)")
    parser.add_argument("--database-url", default=None,
                        help="SQLAlchemy URL, e.g. postgresql://user:pw@host/db (default: SQLite in the state dir)")
    parser.add_argument("--region", default=None, help=f"region name (default: {DEFAULTS.region})")
    parser.add_argument("--policy-file", default=None,
                        help="YAML policy overrides (default: policy.yaml in the state dir; defaults always apply)")
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                        help=f"log level (default: {DEFAULTS.log_level})")


def settings_from_args(args: argparse.Namespace) -> Settings:
    state_dir = args.state_dir or default_state_dir()
    values: dict[str, Any] = load_settings_file(state_dir / "gureum.yaml")
    values["state_dir"] = state_dir
    if args.listen:
        values["listen_host"], values["listen_port"] = args.listen
    for option, setting in (("public_url", "public_url"), ("database_url", "database_url"), ("region", "region"),
                            ("policy_file", "policy_file"), ("log_level", "log_level")):
        if getattr(args, option, None):
            values[setting] = getattr(args, option)
    for option in ("cloud_name", "clouds_yaml"):
        if getattr(args, option, None):
            values[option] = getattr(args, option)
    return Settings().with_overrides(**values)


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Migrations log every plugin at INFO; only their problems matter at start-up.
    logging.getLogger("alembic").setLevel(logging.WARNING)


@dataclass(frozen=True)
class ControllerRole:
    """What a controller process does besides serving: each `up` option switches exactly one of these."""

    command: str  # up or serve: recorded in up.json, said by status
    write_clouds_yaml: bool
    run_agent: bool
    register_guest_image: bool


def run_controller(settings: Settings, role: ControllerRole, started: float) -> int:
    import uvicorn  # noqa: PLC0415 - keep `gureum --help` fast

    from gureum.app import build_app  # noqa: PLC0415
    from gureum.banner import served_services, start_banner  # noqa: PLC0415
    from gureum.clientconfig import write_clouds_yaml, write_openrc  # noqa: PLC0415
    from gureum.cloud import Cloud  # noqa: PLC0415
    from gureum.identity.bootstrap import read_admin_password  # noqa: PLC0415
    from gureum.running import write_record  # noqa: PLC0415

    keep_memory_returnable()
    cloud = Cloud(settings)
    cloud.start()
    app = build_app(cloud)
    try:
        password = read_admin_password(cloud)
    except FileNotFoundError:
        print(f"gureum: the database at {settings.effective_database_url.split('@')[-1]} was set up from another "
              f"state dir: its admin password is not in {settings.state_dir}. Use that state dir (or copy its "
              "admin-password file here), or point --database-url at an empty database.", file=sys.stderr)
        return 2
    openrc = settings.state_dir / "admin-openrc.sh"
    write_openrc(openrc, settings, password)
    extra = [
        ("state", str(settings.state_dir)),
        ("admin", f"user admin, project admin, password in {settings.state_dir / 'admin-password'}"),
        ("openrc", f"source {openrc}"),
    ]
    if role.write_clouds_yaml:
        clouds_yaml = settings.effective_clouds_yaml
        write_clouds_yaml(clouds_yaml, settings.cloud_name, settings, password)
        extra.append(("clouds", f"wrote '{settings.cloud_name}' to {clouds_yaml}: "
                                f"{openstack_command()} --os-cloud {settings.cloud_name} ..."))
    lines = start_banner(__version__, settings.base_url, served_services(app, settings.base_url),
                         {"dashboard": f"log in as admin with {password}"}, extra)

    supervisor = AgentSupervisor(settings) if role.run_agent else None

    class ReadyServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # A requested stop is a clean stop: exit 0 rather than re-raise the signal.
            self._captured_signals.clear()

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                # Before the agent makes anything: `gureum down --purge` reads which dataplane it was given.
                write_record(settings.state_dir, role.command, settings.base_url,
                             supervisor.dataplane_record() if supervisor is not None else None)
                print("\n".join(lines), flush=True)
                log.info("ready in %.2f s", time.monotonic() - started)
                if supervisor is not None:
                    supervisor.start()
                if role.register_guest_image:
                    threading.Thread(target=_register_guest, args=(cloud,), name="guest-image", daemon=True).start()

    config = uvicorn.Config(
        app,
        host=settings.listen_host,
        port=settings.listen_port,
        log_level=settings.log_level,
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = ReadyServer(config)
    try:
        server.run()
    finally:
        if supervisor is not None:
            supervisor.stop()
        cloud.close()
    return 0 if server.started else 1


def _register_guest(cloud: Any) -> None:
    """Build and register the guest image in the background: `up` is ready before it is."""
    from gureum.guest.register import ensure_guest_image  # noqa: PLC0415

    try:
        image_id = ensure_guest_image(cloud)
        print(f"  image:    gureum-guest ({image_id}) is ready to boot", flush=True)
    except Exception as exc:  # noqa: BLE001 - the cloud works without it; say what failed
        log.error("could not build or register the guest image: %s. Servers need an image: "
                  "upload one with `openstack image create ... --file`.", exc)


class AgentSupervisor:
    """Runs this host's `gureum agent` beside the all-in-one controller and restarts it if it dies.

    A separate process talking to the controller over loopback, exactly as a
    remote agent would: one code path for one node and for many.
    """

    RESTART_DELAY_SECONDS = 2.0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, name="agent-supervisor", daemon=True)

    def command(self) -> list[str]:
        s = self.settings
        cmd = [sys.executable, "-m", "gureum.cli", "agent", "--controller", s.base_url,
               "--token-file", str(s.state_dir / "agent-token"), "--state-dir", str(s.state_dir / "agent"),
               "--log-level", s.log_level, "--exit-with-parent"]
        if s.agent_accel:
            cmd += ["--accel", s.agent_accel]
        if s.agent_netns:
            cmd += ["--netns", s.agent_netns]
        cmd += ["--name-prefix", self.name_prefix]
        if s.agent_local_ip:
            cmd += ["--local-ip", s.agent_local_ip]
        for physnet, bridge in s.bridge_mappings.items():
            cmd += ["--bridge-mapping", f"{physnet}:{bridge}"]
        if s.guest_dns_upstreams is not None:
            cmd += [f"--dns-upstream={u}" for u in s.guest_dns_upstreams] or ["--no-dns-upstream"]
        return cmd

    @property
    def name_prefix(self) -> str:
        return self.settings.agent_name_prefix or DEFAULT_NAME_PREFIX

    def dataplane_record(self) -> DataplaneRecord:
        s = self.settings
        return DataplaneRecord(netns=s.agent_netns, name_prefix=self.name_prefix,
                               external_gateway=bool(s.external_gateway and s.bridge_mappings))

    def start(self) -> None:
        from gureum import purge  # noqa: PLC0415
        from gureum.agent import external_side  # noqa: PLC0415

        s = self.settings
        missing = [bridge for bridge in s.bridge_mappings.values() if not purge.bridge_exists(s.agent_netns, bridge)]
        external_side.ensure_provider_bridges(s.agent_netns, s.bridge_mappings)
        for bridge in missing:
            # Only a bridge made here is ours to remove on purge; one the operator made stays.
            if purge.bridge_exists(s.agent_netns, bridge):
                purge.mark_provider_bridge(s.agent_netns, bridge, self.name_prefix)
        if s.external_gateway and s.bridge_mappings:
            bridge = next(iter(s.bridge_mappings.values()))
            external_side.ensure_external_gateway(s.agent_netns, bridge, external_side.parse_gateway(s.external_gateway))
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.is_set():
            self.process = subprocess.Popen(self.command())
            code = self.process.wait()
            if self.stopping.is_set():
                return
            log.error("the agent exited with %s; restarting it in %.0f s", code, self.RESTART_DELAY_SECONDS)
            self.stopping.wait(self.RESTART_DELAY_SECONDS)

    def stop(self) -> None:
        self.stopping.set()
        process = self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def cmd_agent(args: argparse.Namespace) -> int:
    from gureum.agent.service import Agent, AgentSettings  # noqa: PLC0415

    setup_logging(args.log_level)
    token = args.token or (Path(args.token_file).read_text().strip() if args.token_file else "")
    if not token:
        print("gureum agent: give the controller's agent token with --token or --token-file", file=sys.stderr)
        return 2
    if args.exit_with_parent:
        exit_with_parent()
    lock = hold_agent_lock(args.state_dir)
    try:
        mappings = parse_bridge_mappings(args.bridge_mapping)
        dns_upstreams = dns_upstreams_of(args.dns_upstream, args.no_dns_upstream)
    except ValueError as exc:
        print(f"gureum agent: {exc}", file=sys.stderr)
        return 2
    agent = Agent(AgentSettings(controller_url=args.controller, token=token, state_dir=args.state_dir,
                                hostname=args.hostname or "", accel=args.accel,
                                availability_zone=args.availability_zone, netns=args.netns or None,
                                name_prefix=args.name_prefix, bridge_mappings=mappings,
                                local_ip=args.local_ip, dns_upstreams=dns_upstreams))
    signal.signal(signal.SIGTERM, lambda *_: stop_within(agent.stop, AGENT_STOP_GRACE_SECONDS))
    signal.signal(signal.SIGINT, lambda *_: stop_within(agent.stop, AGENT_STOP_GRACE_SECONDS))
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1` shows what a stuck agent waits on
    agent.run()
    lock.close()
    return 0


def parse_bridge_mappings(values: list[str] | None) -> dict[str, str]:
    """PHYSNET:BRIDGE entries (the seed's provider:br-ex) as a dict."""
    mappings: dict[str, str] = {}
    for value in values or []:
        physnet, sep, bridge = value.partition(":")
        if not sep or not physnet or not bridge or len(bridge) > 15:
            raise ValueError(f"--bridge-mapping {value!r}: write PHYSNET:BRIDGE, e.g. provider:br-ex "
                             "(a bridge name has at most 15 characters)")
        mappings[physnet] = bridge
    return mappings


def dns_upstreams_of(values: list[str] | None, none: bool) -> list[str] | None:
    """--dns-upstream entries, checked; None (the host's resolv.conf) when none is given."""
    from gureum.agent.dataplane.dns import parse_upstream  # noqa: PLC0415

    if none:
        return []
    for value in values or []:
        try:
            parse_upstream(value)
        except ValueError as exc:
            raise ValueError(f"--dns-upstream {value!r}: write an address, ADDRESS:PORT or [IPV6]:PORT") from exc
    return list(values) if values else None


AGENT_STOP_GRACE_SECONDS = 10.0


def stop_within(stop: Callable[[], None], grace_seconds: float) -> None:
    """Ask for a clean stop; if the process still runs after the grace, print every thread's stack and exit.

    An agent must follow its controller down promptly even when a pass is stuck
    (a slow disk, a wedged command). Exiting hard is safe: guests are their own
    processes and the next agent reconciles whatever a pass left half done.
    """
    stop()

    def give_up() -> None:
        log.error("the agent did not stop within %.0f s; its threads' stacks follow, then it exits "
                  "(guests keep running; the next agent reconciles)", grace_seconds)
        faulthandler.dump_traceback(all_threads=True)
        os._exit(1)

    timer = threading.Timer(grace_seconds, give_up)
    timer.daemon = True
    timer.start()


def exit_with_parent() -> None:
    """Linux: get SIGTERM when the parent (`gureum up`) dies, even by kill -9, so no agent is orphaned."""
    import ctypes  # noqa: PLC0415

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        sys.exit(0)


def hold_agent_lock(state_dir: Path) -> Any:
    """One agent per node state: a second one waits rather than fight over the same guests."""
    import fcntl  # noqa: PLC0415

    state_dir.mkdir(parents=True, exist_ok=True)
    handle = open(state_dir / "agent.lock", "a+")  # noqa: SIM115 - held for the agent's life
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("another agent holds %s; waiting for it to stop", state_dir / "agent.lock")
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def keep_memory_returnable() -> None:
    """Each password hash takes 19 MiB (argon2). glibc would keep those blocks in
    per-thread arenas for good; a fixed 1 MiB mmap threshold gives them back."""
    import ctypes  # noqa: PLC0415

    m_mmap_threshold = -3
    try:
        ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, 1 << 20)
    except OSError:
        pass  # not glibc: nothing to tune


def cmd_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = settings_from_args(args)
    if args.no_agent:
        settings = settings.with_overrides(run_agent=False)
    if args.no_guest_image:
        settings = settings.with_overrides(register_guest_image=False)
    if args.accel:
        settings = settings.with_overrides(agent_accel=args.accel)
    if args.agent_netns:
        settings = settings.with_overrides(agent_netns=args.agent_netns)
    if args.agent_name_prefix:
        settings = settings.with_overrides(agent_name_prefix=args.agent_name_prefix)
    if args.external_gateway:
        from gureum.agent.external_side import parse_gateway  # noqa: PLC0415

        try:
            parse_gateway(args.external_gateway)
        except ValueError as exc:
            print(f"gureum up: {exc}", file=sys.stderr)
            return 2
        settings = settings.with_overrides(external_gateway=args.external_gateway)
    try:
        if getattr(args, "bridge_mapping", None):
            settings = settings.with_overrides(bridge_mappings=parse_bridge_mappings(args.bridge_mapping))
        upstreams = dns_upstreams_of(args.guest_dns_upstream, args.no_guest_dns_upstream)
        if upstreams is not None:
            settings = settings.with_overrides(guest_dns_upstreams=upstreams)
        elif settings.guest_dns_upstreams is not None:  # from gureum.yaml: checked here too
            dns_upstreams_of(settings.guest_dns_upstreams, False)
    except ValueError as exc:
        print(f"gureum up: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    role = ControllerRole(command="up", write_clouds_yaml=not args.no_clouds_yaml, run_agent=settings.run_agent,
                          register_guest_image=settings.register_guest_image)
    return run_controller(settings, role, started=started)


def cmd_serve(args: argparse.Namespace) -> int:
    started = time.monotonic()
    settings = settings_from_args(args)
    setup_logging(settings.log_level)
    # A controller alone: agents run on the compute nodes, images come from users.
    role = ControllerRole(command="serve", write_clouds_yaml=False, run_agent=False, register_guest_image=False)
    return run_controller(settings, role, started=started)


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    from gureum.cloud import Cloud  # noqa: PLC0415

    settings = settings_from_args(args)
    cloud = Cloud(settings)
    cloud.migrate()
    cloud.identity.keyring.rotate()
    print("token keys rotated; tokens signed with kept keys stay valid")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from gureum import down  # noqa: PLC0415

    if (args.yes or args.remove_state_dir) and not args.purge:
        print("gureum down: --yes and --remove-state-dir go with --purge", file=sys.stderr)
        return 2
    state_dir = args.state_dir or default_state_dir()
    if not args.purge:
        return down.stop(state_dir, print)
    return down.purge(state_dir, print, assume_yes=args.yes, remove_state_dir=args.remove_state_dir)


def cmd_status(args: argparse.Namespace) -> int:
    import json  # noqa: PLC0415

    from gureum.status import StatusError, gather, render  # noqa: PLC0415

    state_dir = args.state_dir or default_state_dir()
    try:
        report = gather(state_dir)
    except StatusError as exc:
        print(f"gureum status: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(render(report), end="")
    # Not running is an answer, and a failure for scripts that need the cloud.
    return 0 if report.running else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gureum", description="A private cloud that speaks the OpenStack APIs.")
    parser.add_argument("--version", action="version", version=f"gureum {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run the all-in-one cloud in the foreground",
                        formatter_class=DefaultsHelpFormatter)
    add_controller_options(up)
    up.add_argument("--cloud-name", default=None,
                    help=f"name of the entry written to clouds.yaml (default: {DEFAULTS.cloud_name})")
    up.add_argument("--clouds-yaml", default=None,
                    help=f"clouds.yaml to write (default: {DEFAULTS.effective_clouds_yaml})")
    up.add_argument("--no-clouds-yaml", action="store_true",
                    help="do not write clouds.yaml (admin-openrc.sh in the state dir is still written)")
    up.add_argument("--no-agent", action="store_true",
                    help="do not run a compute agent for this host (no guests or networks here)")
    up.add_argument("--no-guest-image", action="store_true",
                    help="do not build and register the small gureum-guest image")
    up.add_argument("--accel", default=None, choices=["kvm", "tcg"],
                    help="QEMU accelerator for this host's agent (default: probe)")
    up.add_argument("--agent-netns", default="",
                    help="run this host's dataplane and guests inside this network namespace ('': the host's own)")
    up.add_argument("--agent-name-prefix", default="",
                    help="prefix of the namespaces and firewall tables the agent makes "
                         f"(default: {DEFAULT_NAME_PREFIX})")
    up.add_argument("--bridge-mapping", action="append", metavar="PHYSNET:BRIDGE", default=argparse.SUPPRESS,
                    help="physical network to bridge on this host, repeatable (default: "
                         f"{' '.join(f'{k}:{v}' for k, v in DEFAULTS.bridge_mappings.items())})")
    up.add_argument("--external-gateway", default="", metavar="ADDRESS/PREFIX",
                    help="opt-in: give the provider bridge the external subnet's gateway (e.g. 203.0.113.1/24) and "
                         "NAT that network out through this host, so floating IPs answer here with no routes")
    up.add_argument("--guest-dns-upstream", action="append", metavar="ADDRESS[:PORT]", default=None,
                    help="where DHCP ports send the DNS queries of guests whose subnet names no DNS servers, "
                         "repeatable (default: this host's /etc/resolv.conf servers)")
    up.add_argument("--no-guest-dns-upstream", action="store_true",
                    help="answer those queries SERVFAIL instead of sending them anywhere (isolated labs, tests)")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run a controller (APIs, scheduler) in the foreground",
                           formatter_class=DefaultsHelpFormatter)
    add_controller_options(serve)
    serve.set_defaults(func=cmd_serve)

    agent = sub.add_parser("agent", help="run a compute node's agent in the foreground",
                           formatter_class=DefaultsHelpFormatter)
    agent.add_argument("--controller", required=True, help="the controller's URL, e.g. http://10.0.0.1:8770")
    agent.add_argument("--token", default=None, help="the controller's agent token")
    agent.add_argument("--token-file", default=None, help="file holding the agent token (the controller's state dir has it)")
    agent.add_argument("--state-dir", type=Path, default=default_state_dir() / "agent",
                       help="where instances, the image cache and the agent's records live")
    agent.add_argument("--hostname", default=None, help="this node's name (default: the system hostname)")
    agent.add_argument("--accel", default=None, choices=["kvm", "tcg"],
                       help="QEMU accelerator (default: probe whether KVM really runs a guest)")
    agent.add_argument("--availability-zone", default="nova", help="availability zone of this node")
    agent.add_argument("--netns", default="",
                       help="keep bridges, taps, the firewall and guests inside this network namespace, which "
                            "stands for the host (made if missing; '': the host's own namespace)")
    agent.add_argument("--name-prefix", default=DEFAULT_NAME_PREFIX,
                       help="prefix of the router/DHCP namespaces and firewall tables; the agent removes namespaces "
                            "with it that are not desired, so never one another program uses (e.g. '' with neutron)")
    agent.add_argument("--bridge-mapping", action="append", metavar="PHYSNET:BRIDGE", default=[],
                       help="physical network to bridge, repeatable, like provider:br-ex")
    agent.add_argument("--local-ip", default="",
                       help="this node's address for VXLAN tunnels ('': what the hostname resolves to)")
    agent.add_argument("--dns-upstream", action="append", metavar="ADDRESS[:PORT]", default=None,
                       help="where DHCP ports send the DNS queries of guests whose subnet names no DNS servers, "
                            "repeatable (default: this host's /etc/resolv.conf servers)")
    agent.add_argument("--no-dns-upstream", action="store_true",
                       help="answer those queries SERVFAIL instead of sending them anywhere")
    agent.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                       help="log level")
    agent.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)
    agent.set_defaults(func=cmd_agent)

    down = sub.add_parser("down", help="stop the `gureum up` (or serve) of a state dir; --purge also cleans the host",
                          formatter_class=DefaultsHelpFormatter)
    down.add_argument("--state-dir", type=Path, default=None,
                      help=f"the state dir of the cloud to stop (default: {default_state_dir()})")
    down.add_argument("--purge", action="store_true",
                      help="also remove what gureum made on this host for that state dir: guests (asks first), "
                           "bridges, VXLAN and other devices, namespaces, nftables tables, dnsmasq and QEMU "
                           "processes; the state dir stays")
    down.add_argument("--yes", action="store_true", help="with --purge: stop and remove guests without asking")
    down.add_argument("--remove-state-dir", action="store_true",
                      help="with --purge: delete the state dir too (the database, images, keys: the whole cloud)")
    down.set_defaults(func=cmd_down)

    status = sub.add_parser("status", help="say what runs where: controller, hosts, guests, networks, room left",
                            formatter_class=DefaultsHelpFormatter)
    status.add_argument("--state-dir", type=Path, default=None,
                        help=f"the state dir of the cloud to report on (default: {default_state_dir()})")
    status.add_argument("--json", action="store_true", help="print the report as JSON, for scripts")
    status.set_defaults(func=cmd_status)

    rotate = sub.add_parser("rotate-keys", help="rotate the token encryption keys now",
                            formatter_class=DefaultsHelpFormatter)
    add_controller_options(rotate)
    rotate.set_defaults(func=cmd_rotate_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""How long a fresh Debian 12 machine takes from nothing to a cloud that answers: the
runtime install `./scripts/up` runs, beside the full test install `./scripts/test` runs,
both timed in the same run on fresh copies of the same root.

    sudo python3 bench/install.py [--no-up] [--no-full] [--rebuild-base] [--keep]

The fresh machine: a Debian bookworm minbase root (debootstrap, from the Debian mirror in
/etc/apt/sources.list(.d)) with python3, python3-venv, python3-pip, git, curl and sudo,
and the mirror's bookworm, bookworm-updates and bookworm-security in its sources.list,
no package lists. Built once and cached as a tarball in /var/cache/gureum-bench/.

Each run takes this host's way out to the network into its chroot: /etc/resolv.conf, the
local CA certificates in /usr/local/share/ca-certificates and the variables (PIP_CERT,
REQUESTS_CA_BUNDLE, ...) that point tools at the system CA bundle; nothing else.

Run 1, in a chroot of a fresh copy of it (/proc, /sys, /dev and a tmpfs /run mounted in a
mount namespace of its own, so nothing stays mounted even if the bench dies): clone this
repository's HEAD, then time `./scripts/up` from its start to the end of its runtime
install, to /identity/v3 answering and to the guest image being ready to boot (the
chroot shares this machine's network, so the agent runs with --agent-netns like the
tests' clouds); the user's first command (`openstack image list`); then the test tools
on top (`./scripts/install`) and `./scripts/install --runtime` once more (a no-op).
Run 2, on another fresh copy: the full install from nothing, the reference. Each install
is split into its Debian packages and its Python ones (from scripts/install's log lines).

Target: ./scripts/up's install under 2 minutes on a quiet machine (DevStack documents
15-30 minutes for its all-in-one install). Downloads come from PyPI and the Debian
mirror, so the network's speed is in every figure; the load average is printed too.
Run it with the system python3 (it imports nothing of gureum) from a clone whose HEAD
holds what is to be measured: uncommitted changes are not in the clone.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = Path("/var/cache/gureum-bench")
WORK_PARENT = Path("/var/tmp")
FRESH_MACHINE = ["python3", "python3-venv", "python3-pip", "git", "curl", "sudo"]
SUITE = "bookworm"
TARGET_S = 120.0
DEVSTACK = "DevStack documents 15-30 minutes"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SRC_IN_ROOT = "/mnt/gureum-src"
CLONE_IN_ROOT = "/root/gureum"
PR_SET_PDEATHSIG = 1
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
CA_BUNDLE_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


# -- the fresh machine's base --------------------------------------------------------------


def apt_sources() -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled deb source: one-line *.list and deb822 *.sources."""
    found: list[tuple[str, list[str]]] = []
    lists = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*.list"))]
    for path in lists:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
            if len(line) >= 3 and line[0] == "deb":
                found.append((line[1], [line[2]]))
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.strip()
            if "deb" in fields.get("types", "").split() and fields.get("enabled", "yes").lower() != "no":
                for uri in fields.get("uris", "").split():
                    found.append((uri, fields.get("suites", "").split()))
    return found


def debian_mirrors() -> tuple[str, str | None]:
    """The mirror serving bookworm and the one serving bookworm-security (if any)."""
    sources = apt_sources()
    main = next((uri for uri, suites in sources if SUITE in suites), None)
    security = next((uri for uri, suites in sources if f"{SUITE}-security" in suites), None)
    if main is None:
        raise SystemExit(f"no Debian {SUITE} mirror in /etc/apt/sources.list(.d)")
    return main, security


def sources_list(main: str, security: str | None) -> str:
    lines = [f"deb {main} {SUITE} main", f"deb {main} {SUITE}-updates main"]
    if security:
        lines.append(f"deb {security} {SUITE}-security main")
    return "\n".join(lines) + "\n"


def run_quiet(argv: list[str], what: str, timeout: float = 3600) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{(result.stdout + result.stderr)[-4000:]}")


def remove_tree(path: Path) -> None:
    """rm -rf that never crosses into a mount (and refuses while anything is mounted in it)."""
    if not path.exists():
        return
    mounted = mounts_under(path)
    if mounted:
        raise RuntimeError(f"still mounted under {path}: {mounted}; not removing it")
    subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()).rstrip("/") + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if (point + "/").startswith(prefix):
            points.append(point)
    return points


def base_tarball(rebuild: bool) -> tuple[Path, str]:
    """The cached fresh-machine root as a tar, built when missing; (path, note)."""
    main, security = debian_mirrors()
    sources = sources_list(main, security)
    key = hashlib.sha256(f"{SUITE} minbase {FRESH_MACHINE} {main}\n{sources}".encode()).hexdigest()[:12]
    tarball = CACHE_DIR / f"{SUITE}-minbase-{key}.tar"
    if tarball.exists() and not rebuild:
        return tarball, f"cached {tarball}"
    if subprocess.run(["sh", "-c", "command -v debootstrap"], capture_output=True).returncode != 0:
        raise SystemExit("debootstrap is missing: ./scripts/install installs it (scripts/packages/test.txt)")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix="build-", dir=CACHE_DIR))
    started = time.monotonic()
    try:
        root = build / "root"
        log(f"building the fresh machine with debootstrap from {main} (once; cached)")
        # In a mount namespace of its own: debootstrap mounts /proc and /sys in the
        # target and would leave them mounted if it failed.
        run_quiet(["unshare", "--mount", "--propagation", "private", "debootstrap", "--variant=minbase",
                   f"--include={','.join(FRESH_MACHINE)}", SUITE, str(root), main], "debootstrap")
        (root / "etc/apt/sources.list").write_text(sources)
        hosts = root / "etc/hosts"
        if not hosts.exists() or "localhost" not in hosts.read_text():
            hosts.write_text("127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n")
        # A fresh machine has no package lists yet (scripts/install runs apt-get update).
        subprocess.run(["sh", "-c", f"rm -rf {root}/var/lib/apt/lists/* {root}/var/cache/apt/*.bin "
                        f"{root}/var/cache/apt/archives/*.deb"], check=True)
        partial = tarball.with_suffix(".tar.partial")
        run_quiet(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], "tar")
        partial.rename(tarball)
    finally:
        remove_tree(build)
    return tarball, f"built in {time.monotonic() - started:.0f} s: {tarball}"


# -- a chroot of a fresh copy ----------------------------------------------------------------


# Lines of scripts/install's and gureum up's output that mark a step (the first match counts).
MARKS = {
    "python": re.compile(r"creating \S*\.venv|installing gureum|Python packages \("),
    "installed": re.compile(r"install \((runtime|full)\) done"),
    "image": re.compile(r"is ready to boot"),
    "image_failed": re.compile(r"could not build or register the guest image"),
}


class Streamed:
    """A command whose output goes to a log file, each mark timed from its start as it is read."""

    def __init__(self, argv: list[str], path: Path) -> None:
        self.path = path
        self.marks: dict[str, float] = {}
        self.out = open(path, "w")  # noqa: SIM115 - closed in finish()
        self.started = time.monotonic()
        self.ended: float | None = None
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.out.write(line)
            self.out.flush()
            now = time.monotonic() - self.started
            for name, pattern in MARKS.items():
                if name not in self.marks and pattern.search(line):
                    self.marks[name] = now

    @property
    def seconds(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def install_split(self) -> str:
        """How an install's time splits between the Debian packages and the Python ones."""
        end = self.marks.get("installed", self.seconds)
        python = self.marks.get("python")
        return "" if python is None else f"(Debian packages {python:.0f} s, Python {end - python:.0f} s)"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def finish(self) -> None:
        if self.ended is None:
            self.ended = time.monotonic()
        self.reader.join(5)
        self.out.close()


@dataclass
class Machine:
    """A fresh copy of the base in a chroot; mounts live in the holder's mount namespace."""

    work: Path
    root: Path
    holder: subprocess.Popen[str] | None = None
    logs: list[Path] = field(default_factory=list)

    @classmethod
    def create(cls, tarball: Path, name: str) -> Machine:
        work = Path(tempfile.mkdtemp(prefix=f"gureum-bench-{name}-", dir=WORK_PARENT))
        root = work / "root"
        root.mkdir()
        run_quiet(["tar", "--numeric-owner", "-xpf", str(tarball), "-C", str(root)], "untar")
        (root / SRC_IN_ROOT.lstrip("/")).mkdir(parents=True, exist_ok=True)
        machine = cls(work=work, root=root)
        machine.start_holder()
        machine.take_network_settings()
        return machine

    def take_network_settings(self) -> None:
        """This host's way out: its resolver, its local CA certificates (a TLS-inspecting
        egress proxy's, say) and the variables that point tools at the system bundle.
        Nothing else of the host's pip setup (indexes, wheel dirs): pip uses PyPI."""
        (self.root / "etc/resolv.conf").write_bytes(Path("/etc/resolv.conf").read_bytes())
        local = sorted(LOCAL_CAS.glob("*.crt"))
        if local:
            target = self.root / str(LOCAL_CAS).lstrip("/")
            target.mkdir(parents=True, exist_ok=True)
            for cert in local:
                (target / cert.name).write_bytes(cert.read_bytes())
            self.run("update-ca-certificates", "local CA certificates")

    def start_holder(self) -> None:
        r = shlex.quote(str(self.root))
        src = shlex.quote(str(REPO))
        script = (
            "set -e; "
            # The root a mount point of its own, as a machine's is (`ip netns exec` remounts / rslave).
            f"mount --bind {r} {r}; "
            f"mount -t proc proc {r}/proc; "
            f"mount --rbind /sys {r}/sys; mount --make-rslave {r}/sys; "
            f"mount --rbind /dev {r}/dev; mount --make-rslave {r}/dev; "
            f"mount -t tmpfs -o mode=755 tmpfs {r}/run; "
            f"mount --bind {src} {r}{SRC_IN_ROOT}; mount -o remount,bind,ro {r}{SRC_IN_ROOT}; "
            "echo ready; exec sleep infinity"
        )
        self.holder = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True, preexec_fn=die_with_parent)
        assert self.holder.stdout is not None
        line = self.holder.stdout.readline()
        if line.strip() != "ready":
            self.holder.wait(timeout=10)
            raise RuntimeError(f"could not mount the chroot: {self.holder.stderr.read() if self.holder.stderr else ''}")

    def argv(self, command: str) -> list[str]:
        """A login-like shell in the chroot: a clean environment, root, in the clone."""
        assert self.holder is not None
        return ["nsenter", f"--mount=/proc/{self.holder.pid}/ns/mnt", "chroot", str(self.root),
                "/usr/bin/env", "-i", "HOME=/root", f"PATH={CHROOT_PATH}", "LANG=C.UTF-8", "TERM=dumb",
                *ca_bundle_env(),
                "/bin/bash", "-c", f"cd {CLONE_IN_ROOT} 2>/dev/null || cd /root; {command}"]

    def log_path(self, what: str) -> Path:
        path = self.work / f"{len(self.logs) + 1:02d}-{re.sub(r'[^a-z0-9]+', '-', what.lower()).strip('-')}.log"
        self.logs.append(path)
        return path

    def start(self, command: str, what: str) -> Streamed:
        return Streamed(self.argv(command), self.log_path(what))

    def run(self, command: str, what: str, timeout: float = 3600) -> Streamed:
        """Run to the end; its output is in a log under the work dir, its marks timed."""
        run = self.start(command, what)
        try:
            run.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.stop()
            raise RuntimeError(f"{what}: still running after {timeout:.0f} s (log: {run.path})") from None
        finally:
            run.finish()
        if run.process.returncode != 0:
            raise RuntimeError(f"{what} failed ({run.process.returncode}) after {run.seconds:.0f} s; "
                               f"end of {run.path}:\n{tail(run.path)}")
        return run

    def output(self, command: str, timeout: float = 120) -> str:
        return subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout).stdout

    def processes(self) -> list[int]:
        """Every process whose root is this chroot (whatever mount or network namespace it is in)."""
        root = os.stat(self.root)
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                st = os.stat(entry / "root")
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (root.st_dev, root.st_ino):
                pids.append(int(entry.name))
        return pids

    def destroy(self, keep: bool) -> None:
        """Stop everything in the chroot, then the holder: its mount namespace and every mount in it go."""
        for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
            pids = self.processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while pids and time.monotonic() < deadline:
                time.sleep(0.2)
                pids = self.processes()
        if self.holder is not None and self.holder.poll() is None:
            self.holder.kill()
            self.holder.wait()
        if keep:
            log(f"kept {self.work} (logs and the root, unmounted)")
        else:
            remove_tree(self.work)


def die_with_parent() -> None:
    """In the holder before it execs: killed when the bench dies, even by SIGKILL (its mount
    namespace, and every mount in it, then goes once the chroot's processes are gone)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def ca_bundle_env() -> list[str]:
    """The host's variables that point pip, requests, curl and git at the system CA bundle
    (pip reads its own bundle otherwise, which knows no local CA)."""
    return [f"{name}={os.environ[name]}" for name in CA_BUNDLE_VARIABLES
            if os.environ.get(name, "").startswith("/etc/ssl/")]


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def footprint(machine: Machine) -> str:
    text = machine.output("dpkg-query -W -f='${db:Status-Status}\\n' | grep -c '^installed$'; "
                          f"du -sm {CLONE_IN_ROOT}/.venv 2>/dev/null | cut -f1")
    numbers = text.split()
    return f"{numbers[0]} Debian packages, .venv {numbers[1]} MB" if len(numbers) == 2 else text.strip()


# -- the runs ------------------------------------------------------------------------------------


@dataclass
class Figures:
    rows: list[tuple[str, float | None, float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, what: str, seconds: float | None, note: str = "") -> None:
        self.rows.append((what, seconds, os.getloadavg()[0], note))
        shown = "-" if seconds is None else f"{seconds:.0f} s"
        log(f"{what}: {shown} {note}".rstrip())


def clone(machine: Machine, figures: Figures) -> None:
    run = machine.run(f"git -c safe.directory='*' clone -q {SRC_IN_ROOT} {CLONE_IN_ROOT}", "clone")
    figures.add("  git clone (local)", run.seconds)


def run_up(machine: Machine, figures: Figures, timeout: float) -> None:
    """./scripts/up from nothing: its install, the cloud answering, the guest image ready."""
    port = free_port()
    prefix = "gb" + os.urandom(3).hex()
    up = machine.start(f"./scripts/up --state-dir /var/lib/gureum --listen 127.0.0.1:{port} "
                       f"--agent-netns {prefix}-host --agent-name-prefix {prefix}", "up")
    try:
        deadline = up.started + timeout
        url = f"http://127.0.0.1:{port}/identity/v3"
        answered = None
        while answered is None:
            if up.process.poll() is not None:
                up.reader.join(5)
                raise RuntimeError(f"./scripts/up exited with {up.process.returncode}; "
                                   f"end of {up.path}:\n{tail(up.path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"./scripts/up: no answer after {timeout:.0f} s; end of {up.path}:\n{tail(up.path)}")
            if "installed" in up.marks and answers(url):
                answered = up.seconds
            time.sleep(0.05)
        installed = up.marks["installed"]
        figures.add("  ./scripts/up: its runtime install", installed,
                    f"target < {TARGET_S:.0f} s: {verdict(installed < TARGET_S)} {up.install_split()}")
        figures.add("  ./scripts/up: /identity/v3 answers", answered, f"(gureum up itself: {answered - installed:.1f} s)")
        while not ({"image", "image_failed"} & up.marks.keys()) and time.monotonic() < deadline \
                and up.process.poll() is None:
            time.sleep(0.2)
        what = "  ./scripts/up: gureum-guest image ready to boot"
        if "image" in up.marks:
            figures.add(what, up.marks["image"], "(built from Debian packages in the background)")
        else:
            figures.add(what, None, f"failed: see {up.path}" if "image_failed" in up.marks else "not in time")
        first = time.monotonic()
        images = machine.output(". .venv/bin/activate; OS_CLOUD=gureum openstack image list -f value -c Name 2>&1")
        figures.add("  first command: openstack image list", time.monotonic() - first,
                    f"-> {' '.join(images.split())[:60] or 'nothing (failed)'}")
    finally:
        up.stop()
        up.finish()


def bench_runtime(tarball: Path, args: argparse.Namespace, figures: Figures) -> None:
    figures.add("run 1: ./scripts/up on a fresh machine", None)
    machine = Machine.create(tarball, "up")
    try:
        clone(machine, figures)
        if args.no_up:
            run = machine.run("./scripts/install --runtime", "install runtime")
            figures.add("  ./scripts/install --runtime", run.seconds,
                        f"target < {TARGET_S:.0f} s: {verdict(run.seconds < TARGET_S)} {run.install_split()}")
            figures.notes.append("--no-up: measured to the end of the runtime install, no cloud started")
        else:
            run_up(machine, figures, args.timeout)
        figures.add(f"  after it: {footprint(machine)}", None)
        if args.no_full:
            return
        run = machine.run("./scripts/install", "install full after runtime")
        figures.add("  then ./scripts/install (the test tools on top)", run.seconds, run.install_split())
        run = machine.run("./scripts/install --runtime", "install runtime after full")
        figures.add("  then ./scripts/install --runtime again (nothing to do)", run.seconds)
        figures.add(f"  after it: {footprint(machine)}", None)
    finally:
        machine.destroy(args.keep)


def bench_full(tarball: Path, args: argparse.Namespace, figures: Figures) -> None:
    figures.add("run 2 (reference): ./scripts/test's install on a fresh machine", None)
    machine = Machine.create(tarball, "full")
    try:
        clone(machine, figures)
        run = machine.run("./scripts/install", "install full")
        figures.add("  ./scripts/install (runtime and test tools)", run.seconds, run.install_split())
        figures.add(f"  after it: {footprint(machine)}", None)
    finally:
        machine.destroy(args.keep)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-up", action="store_true",
                        help="time ./scripts/install --runtime only; start no cloud")
    parser.add_argument("--no-full", action="store_true", help="skip the full installs (reference)")
    parser.add_argument("--rebuild-base", action="store_true", help="debootstrap the base again")
    parser.add_argument("--keep", action="store_true", help=f"keep the work dirs under {WORK_PARENT}")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds ./scripts/up may take to be ready")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every chroot is stopped, unmounted and removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        raise SystemExit("run as root: debootstrap, chroot and mounts (sudo python3 bench/install.py)")
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True,
                            text=True).stdout.strip()
    print(f"{os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}; HEAD {commit[:70]}")
    tarball, note = base_tarball(args.rebuild_base)
    print(f"fresh machine: Debian {SUITE} minbase + {', '.join(FRESH_MACHINE)} ({note})")
    figures = Figures()
    failed = False
    for step in (bench_runtime, None if args.no_full else bench_full):
        if step is None:
            continue
        try:
            step(tarball, args, figures)
        except RuntimeError as exc:
            failed = True
            figures.notes.append(f"failed: {exc}")
            log(f"failed: {exc}")
    print()
    print(f"{'':60}{'seconds':>8}{'load':>6}")
    for what, seconds, load, note in figures.rows:
        shown = "" if seconds is None else f"{seconds:8.0f}{load:6.1f}"
        print(f"{what:60}{shown:>14}   {note}".rstrip())
    print("(load: the 1-minute load average when the step ended; other work on the machine slows dpkg and pip)")
    print(f"target: ./scripts/up's install under {TARGET_S / 60:.0f} minutes on a quiet machine; {DEVSTACK}")
    for note in figures.notes:
        print(note.splitlines()[0] if not note.startswith("failed") else note)
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

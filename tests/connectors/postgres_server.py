"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb into a temp folder, serve on
127.0.0.1 on a free port with its unix socket in that folder, stop and remove it after.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user
(created by the Debian package) through ``runuser``. Several processes (pytest-xdist workers)
share one cluster: the first to take the lock starts it, each registers itself, and the last
to leave stops it (``SharedCluster``). ``.ci/run`` starts the cluster itself before the tests
and stops it after (``python tests/connectors/postgres_server.py start|stop STATE``); the tests
find it through ``POSTGRES_TEST_CLUSTER`` (``external_cluster``).
"""

from __future__ import annotations

import fcntl
import glob
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from flowdeck.engine.run.processes import pid_alive

SUPERUSER = "postgres"
SERVICE_USER = "postgres"  # the OS user the server runs as when we are root
ENV_CLUSTER = "POSTGRES_TEST_CLUSTER"  # the state file of a cluster started outside the tests (.ci/run)


@dataclass(frozen=True)
class Cluster:
    """Where a running cluster is and how to log in to it as its superuser."""

    folder: str
    port: int
    password: str
    pid: int
    ca_file: str | None = None  # with TLS on: the CA certificate that signed the server's

    @property
    def tls(self) -> bool:
        """Whether the server accepts TLS connections."""
        return self.ca_file is not None

    def uri(self, database: str = "postgres", *, user: str = SUPERUSER, password: str | None = None) -> str:
        """A libpq URI over TCP on loopback."""
        secret = self.password if password is None else password
        return f"postgresql://{user}:{secret}@127.0.0.1:{self.port}/{database}"

    def plain_uri(self, database: str = "postgres") -> str:
        """The URI without user and password (flowdeck gets those from its own settings)."""
        return f"postgresql://127.0.0.1:{self.port}/{database}"


def server_binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres (the newest installed version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql (.ci/run does it)")


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", SERVICE_USER, "--", *command]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_certificates(folder: Path, common_name: str = "flowdeck test CA") -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, server.crt, server.key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = (folder / "ca.crt", folder / "server.crt", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def start_cluster(*, tls: bool = False) -> Cluster:
    """initdb and start a new cluster (serving TLS too with ``tls``); return how to reach it."""
    binaries = server_binaries()
    folder = Path(tempfile.mkdtemp(prefix="flowdeck-pg-"))
    password = "pg-" + secrets.token_hex(12)
    (folder / "pwfile").write_text(password + "\n")
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVICE_USER)
        for path in (folder, folder / "pwfile"):
            os.chown(path, account.pw_uid, account.pw_gid)
    folder.chmod(0o700)
    data = folder / "data"
    subprocess.run(
        _as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={folder / 'pwfile'}",
                         "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8",
                         "--no-sync"]),
        check=True, capture_output=True,
    )
    (folder / "pwfile").unlink()
    ca_file = None
    extra = ""
    if tls:
        ca, certificate, key = write_certificates(folder)
        ca_file = str(ca)
        key.chmod(0o600)
        if os.geteuid() == 0:
            for path in (certificate, key):
                os.chown(path, account.pw_uid, account.pw_gid)
        extra = f" -c ssl=on -c ssl_cert_file={certificate} -c ssl_key_file={key}"
    for _attempt in range(5):
        port = _free_port()
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off -c synchronous_commit=off "
                   "-c full_page_writes=off -c max_connections=200 -c shared_buffers=128MB" + extra)
        started = subprocess.run(
            _as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                             "-t", "60", "-o", options, "start"]),
            capture_output=True,
        )
        if started.returncode == 0:
            pid = int((data / "postmaster.pid").read_text().split()[0])
            return Cluster(folder=str(folder), port=port, password=password, pid=pid, ca_file=ca_file)
    log = (folder / "server.log").read_text(errors="replace") if (folder / "server.log").exists() else ""
    raise RuntimeError(f"PostgreSQL did not start: {started.stderr.decode(errors='replace')}\n{log[-2000:]}")


def stop_cluster(cluster: Cluster) -> None:
    """Stop the server (fast shutdown) and remove its folder."""
    data = Path(cluster.folder) / "data"
    subprocess.run(_as_server_user([str(server_binaries() / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                                    "stop"]), capture_output=True)
    shutil.rmtree(cluster.folder, ignore_errors=True)


class SharedCluster:
    """One cluster shared by every process that enters with the same ``state_dir``."""

    def __init__(self, state_dir: Path, *, tls: bool = False) -> None:
        self.state_dir = state_dir
        self.tls = tls
        kind = "postgres-tls-cluster" if tls else "postgres-cluster"
        self.state_file = state_dir / f"{kind}.json"
        self.lock_file = state_dir / f"{kind}.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def enter(self) -> Cluster:
        """Join the running cluster, or start one; register this process as a user of it."""
        with self._locked():
            state = json.loads(self.state_file.read_text()) if self.state_file.exists() else None
            if state is not None and not pid_alive(state["cluster"]["pid"]):
                state = None
            if state is None:
                state = {"cluster": asdict(start_cluster(tls=self.tls)), "users": []}
            state["users"].append(os.getpid())
            self.state_file.write_text(json.dumps(state))
            return Cluster(**state["cluster"])

    def leave(self) -> None:
        """Unregister this process; the last one out stops the cluster."""
        with self._locked():
            if not self.state_file.exists():
                return
            state = json.loads(self.state_file.read_text())
            users = [pid for pid in state["users"] if pid != os.getpid() and pid_alive(pid)]
            if users:
                state["users"] = users
                self.state_file.write_text(json.dumps(state))
                return
            self.state_file.unlink()
            stop_cluster(Cluster(**state["cluster"]))


def external_cluster() -> Cluster | None:
    """The cluster ``.ci/run`` started for the tests (``POSTGRES_TEST_CLUSTER``), if any."""
    state = os.environ.get(ENV_CLUSTER)
    if not state:
        return None
    cluster = Cluster(**json.loads(Path(state).read_text()))
    if not pid_alive(cluster.pid):
        raise RuntimeError(f"{ENV_CLUSTER}={state}: its PostgreSQL server (pid {cluster.pid}) is not running")
    return cluster


def main(argv: list[str]) -> int:
    """``start STATE`` (start a cluster, write how to reach it to STATE) or ``stop STATE``."""
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: postgres_server.py start|stop STATE_FILE", file=sys.stderr)
        return 2
    command, state = argv[0], Path(argv[1])
    if command == "start":
        cluster = start_cluster()
        state.write_text(json.dumps(asdict(cluster)))
        print(f"PostgreSQL {server_binaries().parent.name} on 127.0.0.1:{cluster.port} ({cluster.folder})")
    elif state.exists():
        stop_cluster(Cluster(**json.loads(state.read_text())))
        state.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

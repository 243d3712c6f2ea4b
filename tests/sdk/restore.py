"""Restores of backup sets into throwaway MariaDB servers, to prove a set holds
what was backed up.

- `restore_physical(set_file, workdir)`: an xbstream from
  `mariadb-backup --backup --stream=xbstream` is unpacked with `mbstream -x`,
  prepared with `mariadb-backup --prepare`, and a MariaDB is started on it.
- `restore_logical(set_file, workdir)`: a fresh MariaDB (`mariadb-install-db`)
  is started and the SQL is loaded with the `mariadb` client.
- `checksums(server, databases)`: `{"db.table": CHECKSUM TABLE value}`.
- `source()`, `source_database_toml()` and `seed_databases(...)`: the test
  MariaDB that scripts/test.sh starts (DBS_TEST_MYSQL_*), its gateway.toml
  entry, and databases of several engines and types to back up from it.

A set is given as bytes or as a path. Each restored server binds 127.0.0.1 on
a free port and runs with `--skip-grant-tables` (the set's accounts and
passwords are not the test's to know); its socket lives in a short private
directory under the system's temp dir (a Unix socket path is at most 107
bytes). A server is a context manager that stops it on exit, every server
still running when the interpreter exits is stopped too, and a server gets
SIGTERM if the test process is killed: a failing test leaves none behind.

Only the server's own command-line tools are used (no Python driver): the
packages are mariadb-server, mariadb-client and mariadb-backup (scripts/lib/
services/mariadb.sh installs them). As root, the servers run as root
(`--user=root`), as scripts/lib/services/mariadb.sh starts the test servers."""

import atexit
import ctypes
import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

# Where Debian puts daemons, not on a non-root user's PATH.
_SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")
# System schemas that are no part of a set's content.
SYSTEM_DATABASES = ("mysql", "sys", "information_schema", "performance_schema")
_RUNNING = set()


def tool(*names):
    """The path of the first of `names` found on PATH or in the sbin dirs."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN_DIRS])
    for name in names:
        found = shutil.which(name, path=search)
        if found:
            return found
    raise FileNotFoundError(f"none of {', '.join(names)} is installed (apt-get install mariadb-server "
                            "mariadb-client mariadb-backup)")


def _run(argv, stdin=None, what=None):
    """Runs `argv` (stdin: bytes, a path or None); fails with its stderr."""
    if isinstance(stdin, (str, os.PathLike)):
        with open(stdin, "rb") as source:
            out = subprocess.run(argv, stdin=source, capture_output=True)
    else:
        out = subprocess.run(argv, input=stdin, capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"{what or argv[0]} failed ({out.returncode}): "
                           f"{out.stderr.decode(errors='replace')[-4000:]}")
    return out.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """The `mariadb` command-line client bound to one server by an option
    file of mode 0600 (a password never reaches the command line)."""

    def __init__(self, options):
        fd, path = tempfile.mkstemp(prefix="dbs-client-", suffix=".cnf")
        with os.fdopen(fd, "w") as cnf:
            cnf.write("[client]\n" + "".join(f'{k}="{v}"\n' for k, v in options.items()))
        self.option_file = path
        atexit.register(self._remove_option_file)

    @classmethod
    def tcp(cls, host, port, user, password):
        """A client of the server at host:port, logging in as user/password."""
        return cls({"host": host, "port": port, "user": user, "password": password, "protocol": "TCP"})

    def _remove_option_file(self):
        try:
            os.unlink(self.option_file)
        except FileNotFoundError:
            pass

    def argv(self, *args):
        return [tool("mariadb", "mysql"), f"--defaults-file={self.option_file}", *args]

    def query(self, sql):
        """The rows `sql` (one or more statements) answers, each a list of
        strings (None for NULL)."""
        out = _run(self.argv("--batch", "--skip-column-names", "--raw", "-e", sql), what=f"mariadb -e {sql[:200]!r}")
        rows = []
        for line in out.decode().splitlines():
            rows.append([None if field == "NULL" else field for field in line.split("\t")])
        return rows

    def load(self, sql):
        """Runs a script (bytes or a path) as `mariadb < script` does."""
        _run(self.argv("--batch"), stdin=sql, what="mariadb < script")


class ThrowawayServer:
    """A MariaDB on `datadir`, for as long as the test needs it: bound to
    127.0.0.1 on a free port, stopped by `stop()`, on leaving a `with`
    block, or at the latest when the interpreter exits."""

    def __init__(self, datadir, start_timeout=120.0):
        self.datadir = Path(datadir)
        self.rundir = Path(tempfile.mkdtemp(prefix="dbs-r-"))
        self.socket = self.rundir / "mysqld.sock"
        self.error_log = self.datadir.parent / f"{self.datadir.name}.err"
        self.port = None
        self.proc = None
        self.client = Client({"socket": self.socket, "user": "root"})
        self._start(start_timeout)

    def _start(self, timeout):
        # A free port can be taken between the probe and the bind: try again then.
        for _ in range(3):
            self.port = _free_port()
            self.proc = subprocess.Popen(
                [tool("mariadbd", "mysqld"), "--no-defaults", f"--user={getpass.getuser()}",
                 f"--datadir={self.datadir}", f"--socket={self.socket}",
                 f"--pid-file={self.rundir / 'mysqld.pid'}", f"--port={self.port}",
                 "--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-grant-tables",
                 "--skip-log-bin", "--innodb-buffer-pool-size=64M", f"--log-error={self.error_log}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
            _RUNNING.add(self)
            if self._wait_ready(timeout):
                return
            log = self._log_tail()
            self.stop()
            if "Address already in use" not in log:
                break
        raise RuntimeError(f"the throwaway MariaDB on {self.datadir} did not start:\n{log}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if self.socket.exists():
                try:
                    self.client.query("SELECT 1")
                    return True
                except RuntimeError:
                    pass
            time.sleep(0.2)
        return False

    def _log_tail(self):
        try:
            return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-30:])
        except FileNotFoundError:
            return "(no error log)"

    def query(self, sql):
        """The rows of `sql`, as `Client.query` gives them."""
        return self.client.query(sql)

    def tcp_client(self):
        """A client that reaches this server over TCP on 127.0.0.1 (any
        user: grants are skipped)."""
        return Client.tcp("127.0.0.1", self.port, "root", "")

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL after 60 s) and removes
        its private run directory; the datadir stays for a post-mortem."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        _RUNNING.discard(self)
        shutil.rmtree(self.rundir, ignore_errors=True)
        self.client._remove_option_file()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by
    SIGKILL, when no atexit handler runs (Linux's PR_SET_PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


@atexit.register
def _stop_every_server():
    for server in list(_RUNNING):
        server.stop()


def _fresh_dir(workdir, name):
    path = Path(workdir) / name
    if path.exists():
        raise FileExistsError(f"{path} exists: restore into a fresh directory")
    path.mkdir(parents=True, mode=0o750)
    return path


def _set_input(set_file):
    """A set given as bytes stays bytes; anything else is a path."""
    return set_file if isinstance(set_file, (bytes, bytearray)) else Path(set_file)


def restore_physical(set_file, workdir, name="physical"):
    """Unpacks the xbstream `set_file` (bytes or a path) into `workdir/name`,
    prepares it and starts a MariaDB on it: a `ThrowawayServer`."""
    datadir = _fresh_dir(workdir, name)
    _run([tool("mbstream"), "-x", "-C", str(datadir)], stdin=_set_input(set_file), what="mbstream -x")
    _run([tool("mariadb-backup", "mariabackup"), "--prepare", f"--target-dir={datadir}"],
         what="mariadb-backup --prepare")
    return ThrowawayServer(datadir)


def restore_logical(set_file, workdir, name="logical"):
    """Starts a fresh, empty MariaDB in `workdir/name` and loads the SQL
    `set_file` (bytes or a path) into it with `mariadb`: a `ThrowawayServer`."""
    datadir = _fresh_dir(workdir, name)
    _run([tool("mariadb-install-db", "mysql_install_db"), "--no-defaults", f"--user={getpass.getuser()}",
          f"--datadir={datadir}", "--skip-test-db", "--auth-root-authentication-method=socket"],
         what="mariadb-install-db")
    server = ThrowawayServer(datadir)
    try:
        server.client.load(_set_input(set_file))
    except BaseException:
        server.stop()
        raise
    return server


def tables(server, databases=None):
    """The base tables ("db.table") of `databases` on `server` (a
    `ThrowawayServer` or a `Client`), every user database when None; sorted."""
    where = "TABLE_TYPE = 'BASE TABLE'"
    if databases is None:
        where += " AND TABLE_SCHEMA NOT IN (" + ", ".join(f"'{d}'" for d in SYSTEM_DATABASES) + ")"
    else:
        where += " AND TABLE_SCHEMA IN (" + ", ".join(_literal(d) for d in databases) + ")"
    rows = server.query(f"SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES "
                        f"WHERE {where} ORDER BY 1")
    return [row[0] for row in rows]


def checksums(server, databases):
    """`{"db.table": CHECKSUM TABLE value}` of every base table of
    `databases` on `server` (a `ThrowawayServer` or a `Client`); a value is
    an int (None when the server has none)."""
    names = tables(server, databases)
    if not names:
        return {}
    rows = server.query("CHECKSUM TABLE " + ", ".join(_identifier(n) for n in names))
    return {row[0]: None if row[1] is None else int(row[1]) for row in rows}


def _literal(text):
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _identifier(qualified):
    db, table = qualified.split(".", 1)
    return f"{_identifier_part(db)}.{_identifier_part(table)}"


def _identifier_part(name):
    return "`" + name.replace("`", "``") + "`"


def env(name):
    """An environment variable the test script sets; fails naming it."""
    value = os.environ.get(name)
    assert value, f"{name} is not set: run the tests with scripts/test.sh (it starts MariaDB)"
    return value


def source():
    """A `Client` of the test MariaDB as its admin user."""
    return Client.tcp(env("DBS_TEST_MYSQL_HOST"), env("DBS_TEST_MYSQL_PORT"),
                      env("DBS_TEST_MYSQL_ADMIN_USER"), env("DBS_TEST_MYSQL_ADMIN_PASSWORD"))


def source_database_toml():
    """gateway.toml's `[[databases]]` entry for the test MariaDB, with its
    admin login."""
    return f"""
[[databases]]
type = "mysql"
host = {json.dumps(env("DBS_TEST_MYSQL_HOST"))}
port = {int(env("DBS_TEST_MYSQL_PORT"))}
user = {json.dumps(env("DBS_TEST_MYSQL_ADMIN_USER"))}
password = {json.dumps(env("DBS_TEST_MYSQL_ADMIN_PASSWORD"))}
"""


def seed_databases(client, rows=20000):
    """Creates three databases of a fresh random prefix on `client`, with
    InnoDB, Aria and MyISAM tables, NULLs, binary and multibyte strings and a
    view: their names, sorted. `drop_databases` removes them."""
    prefix = f"rs{secrets.token_hex(3)}"
    a, b, c = (f"{prefix}_{name}" for name in ("shop", "media", "audit"))
    statements = f"""
        CREATE DATABASE {a}; CREATE DATABASE {b}; CREATE DATABASE {c};
        CREATE TABLE {a}.orders (id INT PRIMARY KEY, note VARCHAR(100), amount DECIMAL(12,2),
            created DATETIME) ENGINE=InnoDB;
        INSERT INTO {a}.orders SELECT seq, CONCAT('order ', seq), seq * 1.25,
            '2026-11-27 12:00:00' - INTERVAL seq MINUTE FROM {a}.seq_1_to_{rows};
        CREATE TABLE {a}.customers (id INT PRIMARY KEY, name VARCHAR(60) CHARACTER SET utf8mb4,
            email VARCHAR(80) NULL) ENGINE=InnoDB;
        INSERT INTO {a}.customers SELECT seq, CONCAT('Zoë ', seq, ' 東京'),
            IF(seq % 3 = 0, NULL, CONCAT('c', seq, '@example.com')) FROM {a}.seq_1_to_{rows // 10};
        CREATE TABLE {b}.blobs (id INT PRIMARY KEY, body LONGBLOB, flags BIT(8)) ENGINE=InnoDB;
        INSERT INTO {b}.blobs SELECT seq, UNHEX(SHA2(seq, 512)), seq % 256 FROM {a}.seq_1_to_{rows // 4};
        CREATE TABLE {b}.notes (id INT PRIMARY KEY, body TEXT) ENGINE=Aria;
        INSERT INTO {b}.notes SELECT seq, REPEAT('n', seq % 300) FROM {a}.seq_1_to_{rows // 8};
        CREATE TABLE {c}.events (id BIGINT PRIMARY KEY, kind ENUM('in', 'out'), at TIMESTAMP NULL,
            score DOUBLE) ENGINE=MyISAM;
        INSERT INTO {c}.events SELECT seq, IF(seq % 2, 'in', 'out'),
            IF(seq % 5 = 0, NULL, FROM_UNIXTIME(1700000000 + seq)), seq / 7 FROM {a}.seq_1_to_{rows // 5};
        CREATE VIEW {c}.ins AS SELECT id, at FROM {c}.events WHERE kind = 'in';
    """
    try:
        client.query(statements)
    except BaseException:
        drop_databases(client, [a, b, c])
        raise
    return sorted([a, b, c])


def drop_databases(client, databases):
    """Drops `databases` on `client`."""
    client.query("".join(f"DROP DATABASE IF EXISTS {_identifier_part(d)}; " for d in databases))

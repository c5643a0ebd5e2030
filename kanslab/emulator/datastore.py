"""The lab's Kubernetes/Calico datastore: one SQLite file shared by every process of a lab.

Objects are stored whole, as JSON, keyed by (kind, namespace or '', name) the way the
Kubernetes API keys them. A single revision counter plays etcd's role: every write bumps it and
the written object gets it as its resourceVersion, so readers (Felix, BIRD renderers) can poll
`revision()` to learn that something changed.

Several processes use the file at once (the notebook, the lab agent, `kanslab` CLI calls), so
each call opens its own connection, the database runs in WAL mode (readers never block the
writer), and every write transaction starts with BEGIN IMMEDIATE (it takes the write lock up
front, so two read-modify-write transactions cannot interleave and lose an update).
"""

from __future__ import annotations

import copy
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import InvalidInput

# Canonical kind names; kinds scoped to a namespace are keyed by it, the others by ''.
KINDS = (
    "Namespace", "Pod", "Node", "NetworkPolicy",
    "IPPool", "BGPPeer", "BGPConfiguration", "FelixConfiguration", "KubeControllersConfiguration",
    "WorkloadEndpoint", "IPAMBlock", "BlockAffinity", "IPAMConfig", "IPReservation",
    "CalicoNetworkPolicy", "GlobalNetworkPolicy",
    # core objects a course applies (core_objects.py, workloads.py)
    "ConfigMap", "Secret", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
    "Deployment", "ReplicaSet", "DaemonSet", "Event",
    "Service", "Endpoints", "EndpointSlice",
)
NAMESPACED_KINDS = frozenset({"Pod", "NetworkPolicy", "WorkloadEndpoint", "CalicoNetworkPolicy",
                              "ConfigMap", "Secret", "ServiceAccount", "Role", "RoleBinding",
                              "Deployment", "ReplicaSet", "DaemonSet", "Event",
                              "Service", "Endpoints", "EndpointSlice"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('revision', 0);
"""

# A writer waits this long for another process's transaction before giving up (seconds).
_BUSY_TIMEOUT_S = 30.0


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"unknown kind {kind!r}; the datastore holds {', '.join(KINDS)}")


def _ns_key(kind: str, namespace: str | None) -> str:
    if kind in NAMESPACED_KINDS:
        return namespace or "default"
    return ""


class Transaction:
    """Reads and writes inside one BEGIN IMMEDIATE transaction; see `Datastore.transaction`."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def revision(self) -> int:
        return int(self._conn.execute("SELECT value FROM meta WHERE key='revision'").fetchone()[0])

    @contextmanager
    def trial(self) -> Iterator[Transaction]:
        """Writes inside are undone when the block ends (a SAVEPOINT): to learn whether a change would
        be refused without making it."""
        self._conn.execute("SAVEPOINT trial")
        try:
            yield self
        finally:
            self._conn.execute("ROLLBACK TO trial")
            self._conn.execute("RELEASE trial")

    @contextmanager
    def savepoint(self) -> Iterator[Transaction]:
        """Writes inside are undone if the block raises (and the exception propagates); kept otherwise."""
        self._conn.execute("SAVEPOINT part")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK TO part")
            self._conn.execute("RELEASE part")
            raise
        self._conn.execute("RELEASE part")

    def setting(self, key: str, default: int = 0) -> int:
        """A lab-wide integer setting (kept beside the revision, outside the objects)."""
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (f"setting:{key}",)).fetchone()
        return int(row[0]) if row else default

    def set_setting(self, key: str, value: int) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?,?)", (f"setting:{key}", int(value)))

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        _check_kind(kind)
        row = self._conn.execute(
            "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?",
            (kind, _ns_key(kind, namespace), name)).fetchone()
        return json.loads(row[0]) if row else None

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        """All objects of a kind, ordered by (namespace, name); namespace None means every namespace."""
        _check_kind(kind)
        if namespace is None or kind not in NAMESPACED_KINDS:
            rows = self._conn.execute(
                "SELECT body FROM objects WHERE kind=? ORDER BY namespace, name", (kind,)).fetchall()
        else:
            rows = self._conn.execute(
                "SELECT body FROM objects WHERE kind=? AND namespace=? ORDER BY name",
                (kind, namespace)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def put(self, obj: dict) -> dict:
        """Create or replace an object; returns what was stored (with uid, resourceVersion, timestamps)."""
        kind = obj.get("kind")
        _check_kind(kind)
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        name = meta.get("name")
        if not name:
            raise InvalidInput(f"{kind} without metadata.name")
        ns = _ns_key(kind, meta.get("namespace"))
        if ns:
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        old = self.get(kind, name, ns or None)
        rev = self.revision() + 1
        self._conn.execute("UPDATE meta SET value=? WHERE key='revision'", (rev,))
        if kind == "WorkloadEndpoint" and meta.get("uid"):
            pass  # a WEP is a view of its pod and carries the pod's uid (k8s_objects.link_wep)
        elif old is not None:
            # identity and age survive updates, as in the API server
            meta["uid"] = old["metadata"].get("uid")
            meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
        else:
            # deterministic uids keep recorded transcripts stable between runs
            meta["uid"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kanslab:{kind}/{ns}/{name}/{rev}"))
            meta["creationTimestamp"] = meta.get("creationTimestamp") or _now()
        meta["resourceVersion"] = str(rev)
        for empty in [k for k in ("labels", "annotations") if k in meta and not meta[k]]:
            del meta[empty]  # the API omits empty maps; so do we, so outputs match
        self._conn.execute(
            "INSERT OR REPLACE INTO objects(kind, namespace, name, body) VALUES (?,?,?,?)",
            (kind, ns, name, json.dumps(obj, sort_keys=True)))
        return obj

    def delete(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """Remove an object; returns it, or None when there was none (nothing changes then)."""
        old = self.get(kind, name, namespace)
        if old is None:
            return None
        rev = self.revision() + 1
        self._conn.execute("UPDATE meta SET value=? WHERE key='revision'", (rev,))
        self._conn.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?",
                           (kind, _ns_key(kind, namespace), name))
        return old


class Datastore:
    """`Datastore(path)`; `with ds.transaction() as tx: ...` for writes, `ds.get/list/revision` for reads."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self._connect()
        try:
            # WAL is a property of the file: set once, every later connection uses it
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            # statement by statement: executescript would COMMIT behind our back
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves so BEGIN IMMEDIATE is really used
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All-or-nothing: an exception inside the block rolls every write back and propagates."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()

    @contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """Read-only: every read inside sees one consistent state (writes are not committed)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")
            try:
                yield Transaction(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        with self.snapshot() as tx:
            return tx.get(kind, name, namespace)

    def list(self, kind: str, namespace: str | None = None) -> list[dict]:
        with self.snapshot() as tx:
            return tx.list(kind, namespace)

    def revision(self) -> int:
        with self.snapshot() as tx:
            return tx.revision()

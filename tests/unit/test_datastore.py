"""The lab's SQLite datastore: revisions, transactions, and several processes writing at once."""

import multiprocessing
import sqlite3

import pytest

from kanslab.emulator.datastore import Datastore
from kanslab.errors import InvalidInput


def _pool(name, cidr="10.10.0.0/16"):
    return {"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": name},
            "spec": {"cidr": cidr}}


def test_put_get_list_delete_and_revisions(tmp_path):
    ds = Datastore(tmp_path / "ds.sqlite")
    assert ds.revision() == 0
    with ds.transaction() as tx:
        a = tx.put(_pool("a"))
        b = tx.put(_pool("b", "10.20.0.0/16"))
    assert (a["metadata"]["resourceVersion"], b["metadata"]["resourceVersion"]) == ("1", "2")
    assert ds.revision() == 2
    assert ds.get("IPPool", "a")["spec"]["cidr"] == "10.10.0.0/16"
    assert [p["metadata"]["name"] for p in ds.list("IPPool")] == ["a", "b"]

    with ds.transaction() as tx:
        updated = tx.put({**_pool("a"), "spec": {"cidr": "10.30.0.0/16"}})
    # identity and age survive an update; the version is the new revision
    assert updated["metadata"]["uid"] == a["metadata"]["uid"]
    assert updated["metadata"]["creationTimestamp"] == a["metadata"]["creationTimestamp"]
    assert updated["metadata"]["resourceVersion"] == "3"

    with ds.transaction() as tx:
        assert tx.delete("IPPool", "a")["spec"]["cidr"] == "10.30.0.0/16"
        assert tx.delete("IPPool", "nope") is None
    assert ds.get("IPPool", "a") is None
    assert ds.revision() == 4


def test_namespaced_kinds_default_to_default_namespace(tmp_path):
    ds = Datastore(tmp_path / "ds.sqlite")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    with ds.transaction() as tx:
        tx.put(pod)
        tx.put({**pod, "metadata": {"name": "p", "namespace": "other"}})
    assert ds.get("Pod", "p")["metadata"]["namespace"] == "default"
    assert len(ds.list("Pod")) == 2
    assert [p["metadata"]["namespace"] for p in ds.list("Pod", "other")] == ["other"]


def test_exception_rolls_back_every_write(tmp_path):
    ds = Datastore(tmp_path / "ds.sqlite")
    with pytest.raises(RuntimeError):
        with ds.transaction() as tx:
            tx.put(_pool("a"))
            raise RuntimeError("boom")
    assert ds.get("IPPool", "a") is None
    assert ds.revision() == 0


def test_unknown_kind_is_refused(tmp_path):
    ds = Datastore(tmp_path / "ds.sqlite")
    with pytest.raises(InvalidInput, match="unknown kind 'StatefulSet'"):
        with ds.transaction() as tx:
            tx.put({"kind": "StatefulSet", "metadata": {"name": "x"}})


def test_file_is_in_wal_mode(tmp_path):
    Datastore(tmp_path / "ds.sqlite")
    conn = sqlite3.connect(tmp_path / "ds.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def _increment(path: str, times: int) -> None:
    ds = Datastore(path)
    for _ in range(times):
        with ds.transaction() as tx:
            obj = tx.get("FelixConfiguration", "counter")
            obj["spec"]["n"] += 1
            tx.put(obj)


def test_concurrent_writers_in_two_processes_lose_no_update(tmp_path):
    path = str(tmp_path / "ds.sqlite")
    ds = Datastore(path)
    with ds.transaction() as tx:
        tx.put({"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                "metadata": {"name": "counter"}, "spec": {"n": 0}})
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(path, 100)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    obj = ds.get("FelixConfiguration", "counter")
    assert obj["spec"]["n"] == 200
    assert ds.revision() == 201
    assert obj["metadata"]["resourceVersion"] == "201"

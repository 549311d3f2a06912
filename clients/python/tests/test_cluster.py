"""overlapd.ClusterClient against three real overlapd nodes sharing one
placement map: routing by owner, the redirect detail, a map change followed,
a stopped node, cross-node copies."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Dict, Iterator, List

import grpc
import pytest
from conftest import Server, _run_server

import overlapd
from overlapd import ops, pb
from overlapd.cluster import redirect_of

NAMES = ("a", "b", "c")
PREFIXES = ("alpha", "beta", "gamma")


def write_map(path: Path, version: int, addresses: List[str],
              moved: Dict[str, int] = {}) -> None:
    nodes = [{"name": n, "address": addresses[i],
              "prefixes": [p for j, p in enumerate(PREFIXES) if moved.get(p, j) == i]}
             for i, n in enumerate(NAMES)]
    path.write_text(json.dumps({"version": version, "nodes": nodes}))


def reload(nodes: List[Server], version: int) -> None:
    for node in nodes:
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while f"placement map version {version}" not in node.log():
            assert time.monotonic() < deadline, node.log()
            time.sleep(0.02)


@pytest.fixture
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """Three nodes: the map is written with placeholder addresses, the nodes
    start on free ports, then version 2 names their real addresses."""
    map_file = tmp_path_factory.mktemp("cluster") / "placement.json"
    write_map(map_file, 1, ["pending:1"] * 3)
    runs = [_run_server(tmp_path_factory, ("--placement", str(map_file), "--node", n, "--placement-poll-seconds", "0"))
            for n in NAMES]
    nodes = [next(r) for r in runs]
    for node in nodes:
        for p in PREFIXES:
            (node.root / p).mkdir()
    addresses = [n.target for n in nodes]
    write_map(map_file, 2, addresses)
    reload(nodes, 2)
    yield nodes, map_file, addresses
    for r in runs:
        next(r, None)


def holders(nodes: List[Server], path: str) -> str:
    return "".join(n for n, node in zip(NAMES, nodes) if (node.root / path).exists())


def test_batch_lands_on_owners_and_wrong_node_redirects(cluster: tuple) -> None:
    nodes, _, addresses = cluster
    with overlapd.ClusterClient(addresses[1]) as c:
        assert c.version == 2
        events = c.execute([ops.write(f"{PREFIXES[i % 3]}/f{i:03d}", b"x%d" % i, tag=100 + i)
                            for i in range(300)], tag=9)
        assert events[-1].type == pb.BATCH_COMPLETE and events[-1].count == 300
        assert sorted(e.tag for e in events[:-1]) == list(range(100, 400))
        assert all(e.type == pb.WRITE_COMPLETE and e.tag == 100 + e.op_index
                   for e in events[:-1])
        for i in range(300):
            assert holders(nodes, f"{PREFIXES[i % 3]}/f{i:03d}") == NAMES[i % 3]
        assert c.client_for("./gamma//f002").read_file("gamma/f002") == b"x2"
    with nodes[0].client() as wrong:
        with pytest.raises(grpc.RpcError) as refused:
            list(wrong.execute([ops.write("alpha/../beta/new", b"no")]))
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    redirect = redirect_of(refused.value)
    assert redirect is not None and redirect.reason == "other_node"
    assert (redirect.owner, redirect.address, redirect.placement_version) == \
        ("b", addresses[1], 2)
    assert holders(nodes, "beta/new") == ""


def test_map_change_is_followed(cluster: tuple) -> None:
    nodes, map_file, addresses = cluster
    with overlapd.ClusterClient(addresses) as c:
        write_map(map_file, 3, addresses, {"gamma": 1})
        reload([nodes[1], nodes[2]], 3)  # the new owner first
        assert c.version == 2
        events = c.execute([ops.write("gamma/moved", b"m", tag=1)])
        assert events[0].type == pb.WRITE_COMPLETE, events
        assert c.version == 3
        assert holders(nodes, "gamma/moved") == "b"


def test_stopped_node_and_cross_node_copy(cluster: tuple) -> None:
    nodes, _, addresses = cluster
    with overlapd.ClusterClient(addresses[0]) as c:
        with pytest.raises(overlapd.OverlapdError) as crossing:
            c.execute([ops.copy("alpha/x", "beta/x")])
        assert crossing.value.code == grpc.StatusCode.FAILED_PRECONDITION
        assert "never crosses nodes" in crossing.value.message
        nodes[2].proc.send_signal(signal.SIGTERM)
        nodes[2].proc.wait(timeout=30)
        events = c.execute([ops.write(f"{p}/s", b"s", tag=i) for i, p in enumerate(PREFIXES)])
        by_tag = {e.tag: e for e in events[:-1]}
        assert by_tag[0].type == pb.WRITE_COMPLETE and by_tag[1].type == pb.WRITE_COMPLETE
        assert by_tag[2].type == pb.OP_FAILED
        assert by_tag[2].error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        assert "node c" in by_tag[2].error.message
        health = {n["name"]: n["health"] for n in c.nodes()}
        assert health == {"a": "SERVING", "b": "SERVING", "c": "UNAVAILABLE"}
    assert holders(nodes, "alpha/s") == "a" and holders(nodes, "gamma/s") == ""

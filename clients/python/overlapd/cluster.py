"""Cluster client of overlapd: many nodes sharing one placement map.

Every node of a cluster runs with ``--placement FILE --node NAME`` and serves
the map (``GetPlacement``). :class:`ClusterClient` fetches it from any node,
sends each op to the node that owns its paths, splits a batch per node (a
``link_next`` chain stays whole) and merges the events, with the tags and op
indexes of the batch as given. When a node refuses a part with a placement
redirect (the map changed under the client), the client fetches the newer
map, from the refusing node first, and sends that part again, once: a
refused batch ran no IO. A node that is down fails its own ops with
``UNAVAILABLE``; nothing is ever sent to another node in its place.

Prefixes are matched by whole path components after ``.`` and empty
components are dropped and ``..`` takes one back, as the server does
(``proto/overlapd/v1/placement_map.h``); the longest matching prefix wins.

Example::

    import overlapd

    with overlapd.ClusterClient(["node-a:50051", "node-b:50051"]) as cluster:
        events = cluster.execute([overlapd.ops.write("alpha/x", b"1", tag=1),
                                  overlapd.ops.write("beta/y", b"2", tag=2)])
        data = cluster.client_for("alpha/x").read_file("alpha/x")
"""

from __future__ import annotations

import threading
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import grpc

from overlapd.client import Client
from overlapd.errors import OverlapdError
from overlapd.session import BatchLike, as_batch
from overlapd.v1 import overlapd_pb2 as pb

# One node's share of a batch: the node, its ops, and each op's index in
# the caller's batch.
_Part = Tuple[pb.PlacementNode, pb.Batch, List[int]]

REDIRECT_TYPE_URL = "type.googleapis.com/overlapd.v1.Redirect"
_NOT_TERMINAL = (pb.READ_CHUNK, pb.BATCH_COMPLETE, pb.EVENTS_LOST, pb.PROGRESS)


def redirect_of(error: grpc.RpcError) -> Optional[pb.Redirect]:
    """The placement :class:`pb.Redirect` a node attached to a refusal
    (``FAILED_PRECONDITION``), from the ``grpc-status-details-bin`` trailer,
    or None."""
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    for key, value in trailers or ():
        if key != "grpc-status-details-bin":
            continue
        for detail in pb.RpcStatus.FromString(value).details:
            if detail.type_url == REDIRECT_TYPE_URL:
                return pb.Redirect.FromString(detail.value)
    return None


def _parts(path: str) -> Optional[List[str]]:
    """The components of ``path`` after normalisation; None when it is
    absolute or its ``..`` climbs above the root."""
    if path.startswith("/"):
        return None
    out: List[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
        else:
            out.append(part)
    return out


def paths_of(op: pb.Op) -> List[Tuple[str, str]]:
    """The path fields of ``op``: ``[("copy.src", "a"), ("copy.dst", "b")]``."""
    kind = op.WhichOneof("kind")
    if kind is None:
        return []
    message = getattr(op, kind)
    return [(f"{kind}.{name}", getattr(message, name)) for name in ("path", "src", "dst")
            if name in message.DESCRIPTOR.fields_by_name]


class PlacementMap:
    """Which node owns a path, by a :class:`pb.Placement`."""

    def __init__(self, placement: pb.Placement) -> None:
        self.placement = placement
        self._prefixes: List[Tuple[List[str], pb.PlacementNode]] = []
        for node in placement.nodes:
            for prefix in node.prefixes:
                parts = _parts(prefix)
                if parts is not None:
                    self._prefixes.append((parts, node))
        self._prefixes.sort(key=lambda p: -len(p[0]))

    @property
    def version(self) -> int:
        return int(self.placement.version)

    def owner_of(self, path: str) -> Optional[pb.PlacementNode]:
        parts = _parts(path)
        if parts is None:
            return None
        for prefix, node in self._prefixes:
            if parts[:len(prefix)] == prefix:
                return node
        return None


class ClusterClient:
    """Routes ops over the nodes of a cluster by its placement map.

    Args:
        seeds: ``HOST:PORT`` of any nodes (a list, or ``"a:1,b:2"``).
        credentials, token, timeout: as for :class:`Client`, for every node.

    Thread-safe. A node without ``--placement`` serves version 0: the
    cluster is that one node, owning every path.
    """

    def __init__(self, seeds: Union[str, Sequence[str]], *,
                 credentials: Optional[grpc.ChannelCredentials] = None,
                 token: Optional[str] = None, timeout: Optional[float] = None) -> None:
        self._seeds = [s.strip() for s in seeds.split(",")] if isinstance(seeds, str) \
            else list(seeds)
        if not self._seeds:
            raise ValueError("cluster: at least one node address is required")
        self._credentials = credentials
        self._token = token
        self._timeout = timeout
        self._lock = threading.Lock()
        self._clients: Dict[str, Client] = {}
        self._map: Optional[PlacementMap] = None
        self.refresh()

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()

    def __enter__(self) -> "ClusterClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def placement(self) -> pb.Placement:
        return self._current().placement

    @property
    def version(self) -> int:
        return self._current().version

    def _current(self) -> PlacementMap:
        with self._lock:
            assert self._map is not None
            return self._map

    def client_at(self, address: str) -> Client:
        """The :class:`Client` of the node at ``address`` (one per node)."""
        with self._lock:
            if address not in self._clients:
                self._clients[address] = Client(address, credentials=self._credentials,
                                                token=self._token, timeout=self._timeout)
            return self._clients[address]

    def _fetch(self, address: str) -> pb.Placement:
        client = self.client_at(address)
        served = client.stub.GetPlacement(pb.GetPlacementRequest(), metadata=client._metadata,
                                          timeout=client._timeout or 10)
        if served.version != 0:
            return served
        alone = pb.Placement(version=0)
        alone.nodes.add(name=served.node or address, address=address, prefixes=[""])
        return alone

    def refresh(self, first: Optional[str] = None) -> None:
        """Asks ``first`` (when given), then the seeds and the map's nodes,
        for their map and keeps the newest version (never an older one).
        Raises :class:`grpc.RpcError` when no node answers."""
        with self._lock:
            known = [n.address for n in self._map.placement.nodes] if self._map else []
        last: Optional[grpc.RpcError] = None
        answered = False
        for address in ([first] if first else []) + self._seeds + known:
            try:
                served = self._fetch(address)
            except grpc.RpcError as e:
                last = e
                continue
            answered = True
            with self._lock:
                if self._map is None or served.version > self._map.version:
                    self._map = PlacementMap(served)
                    return
            if first is None:
                return
        if not answered:
            assert last is not None
            raise last

    def owner_of(self, path: str) -> pb.PlacementNode:
        """The node that owns ``path``; :class:`OverlapdError`
        (``FAILED_PRECONDITION``) when no prefix of the map matches it."""
        current = self._current()
        owner = current.owner_of(path)
        if owner is None:
            raise OverlapdError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f'"{path}" lies under no prefix of the placement map (version '
                f"{current.version}): no node of the cluster serves it", path=path)
        return owner

    def client_for(self, path: str) -> Client:
        """The :class:`Client` of the node that owns ``path``."""
        return self.client_at(self.owner_of(path).address)

    def _split(self, batch: pb.Batch, index: List[int]) -> List[_Part]:
        parts: Dict[str, _Part] = {}
        current = self._current()
        ops = list(batch.ops)
        i = 0
        while i < len(ops):
            end = i
            while end + 1 < len(ops) and ops[end].link_next:
                end += 1
            owner, owner_at = current.placement.nodes[0], ""
            for k in range(i, end + 1):
                for field, path in paths_of(ops[k]):
                    at = f'ops[{index[k]}].{field} "{path}"'
                    node = current.owner_of(path)
                    if node is None:
                        raise OverlapdError(grpc.StatusCode.FAILED_PRECONDITION,
                                            f"{at} lies under no prefix of the placement map "
                                            f"(version {current.version}): no node of the "
                                            "cluster serves it", path=path)
                    if owner_at and node.name != owner.name:
                        raise OverlapdError(grpc.StatusCode.FAILED_PRECONDITION,
                                            f"{owner_at} is on node {owner.name} and {at} on "
                                            f"node {node.name} (placement map version "
                                            f"{current.version}): a copy, rename or linked "
                                            "chain never crosses nodes", path=path)
                    owner, owner_at = node, at
            if owner.name not in parts:
                parts[owner.name] = (owner, pb.Batch(tag=batch.tag, label=batch.label), [])
            _, part, part_index = parts[owner.name]
            for k in range(i, end + 1):
                part.ops.append(ops[k])
                part_index.append(index[k])
            i = end + 1
        return list(parts.values())

    def execute(self, batch_or_ops: BatchLike, *, tag: Optional[int] = None) -> List[pb.Event]:
        """Runs a batch over the nodes that own its ops, the parts at once,
        and returns every event (op indexes and tags of the batch as given)
        and one ``BATCH_COMPLETE`` for the whole batch. Raises
        :class:`OverlapdError` (``FAILED_PRECONDITION``) before any call for
        an op no node owns, a Copy or Rename across two nodes or a chain on
        two nodes, and :class:`grpc.RpcError` for a part a node refused
        (once every part has ended). The ops of a node that is down end
        ``OP_FAILED`` with ``UNAVAILABLE``."""
        batch = as_batch(batch_or_ops, tag)
        events: List[pb.Event] = []
        lock = threading.Lock()

        def deliver(ev: pb.Event) -> None:
            with lock:
                events.append(ev)

        self._run_parts(self._split(batch, list(range(len(batch.ops)))), True, deliver)
        events.append(pb.Event(type=pb.BATCH_COMPLETE, tag=batch.tag, count=len(batch.ops)))
        return events

    def _run_parts(self, parts: List[_Part], follow: bool, deliver: Callable[[pb.Event], None]) -> None:
        errors: List[BaseException] = []

        def run(part: _Part) -> None:
            try:
                self._run_part(part, follow, deliver)
            except (grpc.RpcError, OverlapdError) as e:
                errors.append(e)

        threads = [threading.Thread(target=run, args=(p,)) for p in parts[1:]]
        for t in threads:
            t.start()
        if parts:
            run(parts[0])
        for t in threads:
            t.join()
        if errors:
            raise errors[0]

    def _run_part(self, part: _Part, follow: bool, deliver: Callable[[pb.Event], None]) -> None:
        node, batch, index = part
        ended = [False] * len(batch.ops)
        seen = False
        try:
            for ev in self.client_at(node.address).execute(batch):
                if ev.type == pb.BATCH_COMPLETE:
                    continue
                seen = True
                out = pb.Event()
                out.CopyFrom(ev)
                if ev.op_index < len(index):
                    ended[ev.op_index] = ended[ev.op_index] or ev.type not in _NOT_TERMINAL
                    out.op_index = index[ev.op_index]
                deliver(out)
        except grpc.RpcError as e:
            if follow and not seen and redirect_of(e) is not None:
                self.refresh(first=node.address)
                self._run_parts(self._split(batch, index), False, deliver)
                return
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            for i, op in enumerate(batch.ops):
                if ended[i]:
                    continue
                paths = paths_of(op)
                deliver(pb.Event(type=pb.OP_FAILED, tag=op.tag, op_index=index[i],
                                 path=paths[0][1] if paths else "",
                                 error=pb.Error(code=grpc.StatusCode.UNAVAILABLE.value[0],
                                                message=f"node {node.name} at {node.address} "
                                                        f"is unavailable: {e.details()}")))

    def nodes(self) -> List[Dict[str, object]]:
        """Every node of the map with its health: ``{"name", "address",
        "prefixes", "health" ("SERVING" or the error code name),
        "map_version"}``."""
        out = []
        for node in self.placement.nodes:
            row = {"name": node.name, "address": node.address,
                   "prefixes": list(node.prefixes), "health": "SERVING", "map_version": 0}
            try:
                client = self.client_at(node.address)
                row["map_version"] = client.stub.GetPlacement(
                    pb.GetPlacementRequest(), metadata=client._metadata, timeout=10).version
            except grpc.RpcError as e:
                row["health"] = e.code().name
            out.append(row)
        return out

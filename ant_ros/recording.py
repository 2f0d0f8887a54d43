"""Record topics to an MCAP file (ROS 2 profile, CDR messages, ``ros2msg`` schemas): the format
``ros2 bag`` writes and reads and Foxglove opens. Messages are taken serialized (raw
subscriptions), so recording costs no deserialization."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from mcap.writer import Writer
from rclpy.node import Node

BUILTIN_TYPES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16",
                 "uint16", "int32", "uint32", "int64", "uint64", "string", "wstring"}
_SEPARATOR = "=" * 80
_CONSTANT = re.compile(r"^\S+\s+[A-Z][A-Z0-9_]*\s*=")


def _msg_file(package: str, name: str) -> Path:
    """The .msg file of ``package/name``: in the environment's share/ (pip wheels), else on the
    ament prefix path (a ROS installation)."""
    prefixes = [sys.prefix] + os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
    for prefix in prefixes:
        path = Path(prefix) / "share" / package / "msg" / f"{name}.msg"
        if prefix and path.is_file():
            return path
    raise FileNotFoundError(f"no definition of {package}/msg/{name}")


def _dependencies(package: str, text: str) -> list[tuple[str, str]]:
    types = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or _CONSTANT.match(line):
            continue
        field_type = re.sub(r"\[.*\]$", "", line.split()[0])
        base = field_type.split("<=")[0]
        if base in BUILTIN_TYPES:
            continue
        dep_package, dep_name = base.split("/") if "/" in base else (package, base)
        types.append((dep_package, dep_name.split("/")[-1]))
    return types


def message_definition(msg_type) -> tuple[str, str]:
    """``("pkg/msg/Type", full ros2msg text with every dependency)`` for a message class."""
    package, name = msg_type.__module__.split(".")[0], msg_type.__name__
    main = _msg_file(package, name).read_text()
    seen, parts, queue = set(), [main], _dependencies(package, main)
    while queue:
        dep = queue.pop(0)
        if dep in seen:
            continue
        seen.add(dep)
        text = _msg_file(*dep).read_text()
        parts.append(f"{_SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{text}")
        queue.extend(_dependencies(dep[0], text))
    return f"{package}/msg/{name}", "\n".join(parts)


class McapRecorder:
    """Subscribes to topics on ``node`` and writes every message to ``path``."""

    def __init__(self, node: Node, path: str | os.PathLike, topics: list[tuple[str, type, int]]):
        self.node = node
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")
        self._writer = Writer(self._file)
        self._writer.start(profile="ros2", library="ant_ros")
        self.count = 0
        schemas: dict[str, int] = {}
        for topic, msg_type, qos in topics:
            name, text = message_definition(msg_type)
            if name not in schemas:
                schemas[name] = self._writer.register_schema(name=name, encoding="ros2msg",
                                                             data=text.encode())
            channel = self._writer.register_channel(
                topic=node.resolve_topic_name(topic), message_encoding="cdr",
                schema_id=schemas[name])
            node.create_subscription(msg_type, topic,
                                     lambda data, channel=channel: self._write(channel, data),
                                     qos, raw=True)

    def _write(self, channel: int, data: bytes) -> None:
        stamp = self.node.get_clock().now().nanoseconds
        self._writer.add_message(channel_id=channel, log_time=stamp, publish_time=stamp,
                                 data=data, sequence=self.count)
        self.count += 1

    def close(self) -> None:
        self._writer.finish()
        self._file.close()

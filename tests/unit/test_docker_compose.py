"""docker-compose.yml parses and runs the same commands and topics as the code."""

from pathlib import Path

import yaml

from streamproc.cli import build_parser
from tables import topics

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_are_kafka_and_workers():
    services = load()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["worker"]["environment"]["STREAMPROC_BROKER"] == "kafka://kafka:9092"


def test_commands_parse_with_the_real_cli():
    services = load()["services"]
    for name in ("worker", "replay"):
        command = services[name]["command"]
        assert command[0] == "streamproc"
        args = build_parser().parse_args(command[1:])
        assert args.command == command[1]


def test_topics_created_are_the_code_topics():
    script = " ".join(load()["services"]["topics"]["command"])
    created = script.split("for t in ", 1)[1].split(";", 1)[0].split()
    # recommendations is a table's changelog: created apart, compacted.
    compacted = script.split("&&", 1)[1]
    created.append(compacted.split("--topic ", 1)[1].split()[0])
    assert sorted(created) == sorted([*topics.INPUT_TOPICS, topics.RECOMMENDATIONS, topics.DEAD_LETTERS, topics.PLAYLISTS])
    assert "--config cleanup.policy=compact" in compacted
    assert script.count(f"--partitions {8}") == 2

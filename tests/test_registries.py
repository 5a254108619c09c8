"""The two registries (hosts, deploy runtimes) answer alike: an unknown name is one UserError that names the
choices (exit 2 on the command line), not a PatchError from one and a ValueError (exit 3) from the other."""

from __future__ import annotations

import pytest

from yolov5_shuffle import hosts
from yolov5_shuffle.deploy import runtimes
from yolov5_shuffle.errors import UnknownChoice, UserError


@pytest.mark.parametrize("registry, kind", [(hosts, "host"), (runtimes, "runtime")], ids=["hosts", "runtimes"])
def test_an_unknown_name_is_refused_naming_the_choices(registry, kind):
    with pytest.raises(UnknownChoice) as e:
        registry.by_name("nope")
    assert isinstance(e.value, UserError) and e.value.choices == registry.names()
    assert str(e.value) == f"unknown {kind} 'nope'; one of {', '.join(registry.names())}"


def test_a_known_name_is_found_in_both():
    assert hosts.by_name(hosts.names()[0]).name == hosts.names()[0]
    assert runtimes.by_name(runtimes.names()[0]).name == runtimes.names()[0]


def test_the_yolo_command_is_the_host_that_declares_it():
    assert hosts.for_command("yolo").command == "yolo"
    with pytest.raises(UnknownChoice, match="unknown host command 'nope'; one of yolo"):
        hosts.for_command("nope")

"""Thread control: --threads on every command, train.threads, and a default that does not oversubscribe."""

import os

import pytest
import torch

from convrnn import config as config_lib
from convrnn.cli import COMMANDS, build_parser, main
from convrnn.errors import ConfigError
from convrnn.threads import (
    busy_cores,
    choose_threads,
    default_threads,
    processes_on_node,
    usable_cores,
)


def pairs(cpu: int) -> str:
    """Fake topology: CPUs 2k and 2k+1 are hyperthread siblings of one core."""
    return f"{cpu - cpu % 2},{cpu - cpu % 2 + 1}"


def test_usable_cores_count_the_affinity_mask_and_siblings_once():
    assert usable_cores([0, 1, 2, 3], siblings=pairs) == 2  # two cores, two threads each
    assert usable_cores([0, 2, 4], siblings=pairs) == 3  # one thread of each of three cores
    assert usable_cores([5], siblings=pairs) == 1
    assert usable_cores([0, 1, 2], siblings=lambda cpu: None) == 3  # topology unknown
    assert usable_cores() <= len(os.sched_getaffinity(0))


def test_the_default_respects_omp_num_threads_and_shares_cores_among_processes():
    assert default_threads(environ={"OMP_NUM_THREADS": "3"}, cores=16).threads == 3
    assert default_threads(environ={}, cores=8, busy=0.0).threads == 8
    assert default_threads(processes=2, environ={}, cores=8).threads == 4
    assert default_threads(processes=4, environ={}, cores=2).threads == 1  # never 0
    choice = default_threads(processes=2, environ={}, cores=8)
    assert "8 usable cores / 2 processes" in str(choice) and str(choice).startswith("4 CPU threads")
    with pytest.raises(ConfigError, match="OMP_NUM_THREADS='lots'"):
        default_threads(environ={"OMP_NUM_THREADS": "lots"})


def test_the_default_leaves_the_cores_other_work_keeps_busy(tmp_path):
    assert default_threads(environ={}, cores=2, busy=1.1).threads == 1
    choice = default_threads(environ={}, cores=8, busy=2.6)
    assert choice.threads == 5 and "3 busy with other work" in str(choice)
    assert default_threads(environ={}, cores=4, busy=9.0).threads == 1  # never 0
    assert default_threads(processes=2, environ={}, cores=8, busy=8.0).threads == 4  # own run
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 1 1 1\n")
    assert busy_cores(0.0, stat) == 0.0  # no time passed between the samples
    assert busy_cores(0.0, tmp_path / "absent") == 0.0
    assert 0.0 <= busy_cores(0.05) <= (os.cpu_count() or 1)


def test_the_default_never_exceeds_the_cores_this_process_may_use():
    allowed = len(os.sched_getaffinity(0))
    for processes in (1, 2, 3):
        n = default_threads(processes, environ={}).threads
        assert 1 <= n <= max(1, allowed // processes)


def test_processes_on_node_prefer_torchrun_local_world_size():
    assert processes_on_node(2, environ={}) == 2
    assert processes_on_node(1, environ={"LOCAL_WORLD_SIZE": "4"}) == 4
    assert processes_on_node(3, environ={"LOCAL_WORLD_SIZE": ""}) == 3


def test_an_explicit_count_wins_and_bad_counts_are_named():
    assert choose_threads(2, environ={"OMP_NUM_THREADS": "8"}).threads == 2
    with pytest.raises(ConfigError, match="positive integer"):
        choose_threads(0)
    with pytest.raises(ConfigError, match=r"train\.threads"):
        config_lib.resolve({"train": {"threads": 0}})


def test_every_command_takes_threads():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        dests = {a.dest for a in sub.choices[name]._actions}
        assert "threads" in dests, name
        assert "--threads" in sub.choices[name].format_help()


def test_threads_flag_sets_torch_and_train_config(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        assert main(["data", "check", "arrays", str(tmp_path / "none"), "--threads", "1"]) == 1
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    capsys.readouterr()
    assert main(["train", "--threads", "2", "--print-config"]) == 0
    assert config_lib.yaml_load(capsys.readouterr().out)["train"]["threads"] == 2
    assert "train.threads" in config_lib.RESUME_MUTABLE  # where it runs, not what it learns

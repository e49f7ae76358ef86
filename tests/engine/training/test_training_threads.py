"""Tests of cryostar_boltz.engine.training.threads: what --threads 0 picks."""
import inspect
import os
import subprocess
import sys
from types import SimpleNamespace

import torch

from cryostar_boltz.engine import cli
from cryostar_boltz.engine.training.loop import EpochTrainer
from cryostar_boltz.engine.training.threads import (MAX_AUTO_THREADS, auto_threads,
                                                    choose_threads, passive_openmp)


def test_auto_takes_the_free_cores_shared_among_processes():
    assert auto_threads(cores=2, load=0.0)[0] == 2            # idle two-core machine
    assert auto_threads(cores=2, load=1.0)[0] == 1            # one busy job beside it
    assert auto_threads(cores=2, load=1.3)[0] == 1            # 0.7 free: still one
    assert auto_threads(cores=2, load=5.0)[0] == 1            # overloaded: never 0
    assert auto_threads(cores=16, load=3.0, processes=2)[0] == 6
    assert auto_threads(cores=64, load=0.0)[0] == MAX_AUTO_THREADS
    threads, why = auto_threads(cores=4, load=1.5)
    assert threads == 2 and "4 core(s), load average 1.50: 2.5 free" in why


def test_a_given_thread_count_is_kept():
    assert choose_threads(3) == (3, "--threads 3")
    threads, why = choose_threads(0)
    assert threads >= 1 and why.startswith("auto (--threads 0): ")


def test_openmp_waits_passively_unless_the_user_chose():
    env = {}
    assert passive_openmp(env) and env == {"OMP_WAIT_POLICY": "PASSIVE"}
    env = {"OMP_WAIT_POLICY": "active"}
    assert not passive_openmp(env) and env["OMP_WAIT_POLICY"] == "active"


def test_the_command_line_sets_the_policy_before_torch_loads():
    code = ("import os, sys\n"
            "from cryostar_boltz.engine import cli\n"
            "try:\n"
            "    cli.main(['--version'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "print(os.environ.get('OMP_WAIT_POLICY'), 'torch' in sys.modules)\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    assert out.stdout.split()[-2:] == ["PASSIVE", "False"]
    main = inspect.getsource(cli.main)
    assert main.index("passive_openmp()") < main.index("_command(")


def test_the_loop_applies_and_logs_its_choice(tmp_path):
    before = torch.get_num_threads()
    logs = []
    try:
        trainer = EpochTrainer()
        trainer._start(SimpleNamespace(device="cpu", threads=0, seed=0), tmp_path,
                       logs.append)
        assert torch.get_num_threads() == trainer.threads >= 1
        assert logs == []               # held until the inputs are accepted
        trainer.log.release()
        assert any(line.startswith("CPU threads: %d per process (auto (--threads 0): "
                                   % trainer.threads) for line in logs)
        trainer._start(SimpleNamespace(device="cpu", threads=1, seed=0), tmp_path,
                       logs.append)
        assert torch.get_num_threads() == 1
        trainer.log.release()
        assert logs[-1] == "CPU threads: 1 per process (--threads 1)"
    finally:
        torch.set_num_threads(before)

"""Shared fixtures: the tiny stage notebooks written for testing the runner."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT/'tests'/'notebooks'/'stages'
BPNB = [str(Path(sys.executable).parent/'bpnb')]  # the console script of this environment


@pytest.fixture
def tiny():
    return TINY


@pytest.fixture
def profile(tmp_path):
    "Write a profile YAML into a temporary folder and return its path."
    def make(text, name='test'):
        p = tmp_path/f'{name}.yaml'; p.write_text(text); return p
    return make


def bpnb(*args, check=None):
    "Run the bpnb command line in a subprocess; return the CompletedProcess."
    r = subprocess.run([*BPNB, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, 'PYTHONUNBUFFERED': '1'})
    if check is not None:
        assert r.returncode == check, f'exit {r.returncode}, expected {check}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}'
    return r

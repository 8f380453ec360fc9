"""The exported package stands on its own: no name a module uses is defined only in a notebook cell.

nbdev exports the `#| export` cells; an import written in a test cell works in the notebook and under
nbdev_test, but is missing from the module. pyflakes finds such undefined names statically."""
import subprocess, sys
from conftest import ROOT


def test_no_undefined_names_in_the_package():
    r = subprocess.run([sys.executable, '-m', 'pyflakes', str(ROOT/'bpnb')], capture_output=True, text=True)
    bad = [l for l in (r.stdout + r.stderr).splitlines() if 'undefined name' in l or 'SyntaxError' in l]
    assert not bad, 'names used but never defined or imported in the exported modules:\n' + '\n'.join(bad)


def test_every_module_imports():
    mods = sorted('.'.join(p.relative_to(ROOT/'bpnb').with_suffix('').parts) for p in (ROOT/'bpnb').rglob('*.py')
                  if not p.stem.startswith('_'))                       # subpackages too: bpnb.ecg.train, ...
    assert 'ecg.train' in mods
    code = ';'.join(f'import bpnb.{m}' for m in mods)
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd='/')
    assert r.returncode == 0, r.stderr[-2000:]

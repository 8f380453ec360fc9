"""`.ci/sync-check`, run by `make test` (nbdev_clean, nbdev_export and the README render change nothing) catches drift."""
import json, os, shutil, subprocess, sys
from pathlib import Path
from conftest import ROOT

BIN = Path(sys.executable).parent  # never `make` here: it could reinstall the package from the copy


def copy_project(dst):
    "A copy of the project's files (tracked, and untracked but not ignored), modification times kept."
    files = subprocess.run(['git', 'ls-files', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split('\n')
    for f in filter(None, files):
        if (ROOT/f).is_file(): (dst/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/f, dst/f)
    return dst


def sync_check(proj):
    return subprocess.run(['bash', '.ci/sync-check'], cwd=proj, capture_output=True, text=True, env={**os.environ, 'BIN': str(BIN)})


def test_sync_check_passes_then_catches_drift(tmp_path):
    proj = copy_project(tmp_path/'proj')
    r = sync_check(proj)
    assert r.returncode == 0, r.stdout + r.stderr
    # a hand edit of a generated module is undone by nbdev_export, and reported
    mod = proj/'bpnb'/'config.py'
    mod.write_text(mod.read_text() + '\n# edited by hand\n')
    r = sync_check(proj)
    assert r.returncode != 0 and 'bpnb/config.py' in r.stdout
    # a notebook committed with outputs is cleaned by nbdev_clean, and reported
    nbp = proj/'nbs'/'00_config.ipynb'; nb = json.loads(nbp.read_text())
    code = next(c for c in nb['cells'] if c['cell_type'] == 'code')
    code['execution_count'] = 7; code['outputs'] = [{'output_type': 'stream', 'name': 'stdout', 'text': ['hi\n']}]
    nbp.write_text(json.dumps(nb, indent=1))
    r = sync_check(proj)
    assert r.returncode != 0 and 'nbs/00_config.ipynb' in r.stdout
    # a README edited by hand instead of the index notebook is re-rendered, and reported
    r = sync_check(proj)       # the two previous faults were repaired by the check itself
    assert r.returncode == 0, r.stdout
    (proj/'README.md').write_text((proj/'README.md').read_text().replace('Two commands', 'Three commands'))
    r = sync_check(proj)
    assert r.returncode != 0 and 'README.md' in r.stdout

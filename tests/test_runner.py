"""The stage runner and the command line, on tiny notebooks written for the purpose."""
import json
from pathlib import Path
import pandas as pd
import pytest
from conftest import bpnb, ROOT


def state(run):
    return json.loads((run/'stages.json').read_text())


def test_parameters_are_injected_and_checked(tiny, tmp_path, profile):
    run, prof = tmp_path/'run', profile('seed: 1\nn: 5\n')
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', tmp_path/'figs', '--profile', prof, '--data', tmp_path, '--quiet', check=0)
    # what the kernel process writes to stderr below Python (TensorFlow's C++ logs) goes to the stage's native log, not the console
    assert 'native stderr line' not in r.stdout + r.stderr and 'native stderr line' in (run/'logs'/'01_first.native.log').read_text()
    # a profile outside params/ reaches the stages as its path, so that a stage can load it again
    assert json.loads((run/'first.json').read_text()) == {'n': 5, 'profile': str(prof)}
    assert json.loads((run/'third.json').read_text()) == {'n_seen': 5}          # later stages see earlier outputs
    assert state(run)['01_first']['params'] == {'n': 5, 'run_dir': str(run), 'data': str(tmp_path), 'profile': str(prof)}
    # the executed notebook holds papermill's injected-parameters cell
    nb = json.loads((run/'01_first.ipynb').read_text())
    assert any('injected-parameters' in c['metadata'].get('tags', []) and 'n = 5' in ''.join(c['source']) for c in nb['cells'])
    # a parameter of the wrong type is refused before any kernel starts, and no run folder is made
    r = bpnb('paper', '--nbs', tiny, '--out', tmp_path/'bad', '--profile', profile('n: seven\n', 'bad'),
             '--data', tmp_path, '--quiet', check=2)
    assert "01_first.ipynb: parameter n must be int like its default 1, got 'seven'" in r.stderr and not (tmp_path/'bad').exists()


def test_failure_report_stops_at_failing_stage_and_resume(tiny, tmp_path, profile):
    run, figs = tmp_path/'run', tmp_path/'figs'
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', figs, '--profile', profile('fail: true\n'),
             '--data', tmp_path, '--quiet', check=1)
    assert 'stage 02_second failed in cell' in r.stderr
    assert "raise ValueError('asked to fail by the fail parameter')" in r.stderr    # the failing cell's source
    assert 'ValueError: asked to fail by the fail parameter' in r.stderr
    assert not (run/'third.json').exists()                          # stopped at the first failing stage
    s = state(run)
    assert (s['01_first']['status'], s['02_second']['status']) == ('done', 'failed') and '03_third' not in s
    man = json.loads((run/'manifest.json').read_text())
    assert man['status'] == 'failed' and man['ended']
    assert (figs/'red_square.png').is_file()                        # what was made before the failure is collected
    first_done = s['01_first']['ended']
    # without --resume the run folder is protected
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--quiet', '--data', tmp_path, check=2)
    assert 'already holds a run' in r.stderr
    # resume with the fault fixed: stage 1 is skipped (same parameters), 2 and 3 run
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', figs, '--profile', profile('fail: false\n'),
             '--data', tmp_path, '--resume', '--quiet', check=0)
    assert '01_first: done before with the same parameters, skipped' in r.stdout
    s = state(run)
    assert s['01_first']['ended'] == first_done and s['02_second']['status'] == s['03_third']['status'] == 'done'
    man = json.loads((run/'manifest.json').read_text())
    assert man['status'] == 'done' and len(man['resumed']) == 1
    # resume with a parameter of stage 1 changed: stage 1 runs again, and so does everything after it
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', figs, '--profile', profile('n: 2\n', 'n2'),
             '--data', tmp_path, '--resume', '--quiet', check=0)
    assert 'skipped' not in r.stdout and json.loads((run/'third.json').read_text()) == {'n_seen': 2}


def test_batch_continues_past_failures(tiny, tmp_path):
    out = tmp_path/'batch'
    r = bpnb('batch', tiny/'02_second.ipynb', '-p', 'fail', 'true', 'false', '-p', 'scale', '0.5', '3',
             '--out', out, '--data', tmp_path, '--quiet', check=1)
    assert r.stderr.count('FAILED') == 2 and 'FAILED fail=True,scale=0.5' in r.stderr
    t = pd.read_csv(out/'batch.csv')
    assert len(t) == 4 and sorted(t.status) == ['done', 'done', 'failed', 'failed']
    assert json.loads((out/'fail=False,scale=3'/'second.json').read_text()) == {'scale': 3}
    man = json.loads((out/'manifest.json').read_text())
    assert man['kind'] == 'batch' and man['status'] == 'failed' and len(man['failures']) == 2
    r = bpnb('batch', tiny/'02_second.ipynb', '-p', 'nope', '1', '--out', tmp_path/'b2', check=2)
    assert 'declares no parameter nope' in r.stderr


def test_manifest_contents(tiny, tmp_path, profile):
    data = tmp_path/'data'; data.mkdir()
    (data/'rec.dat').write_bytes(b'\x00' * 1000)
    (data/'bpnb_source.json').write_text('{"name": "toy", "synthetic": true}')
    run = tmp_path/'run'
    bpnb('paper', '--nbs', tiny, '--out', run, '--figures', tmp_path/'f', '--data', data, '--stage', '01',
         '--profile', profile('seed: 7\n'), '--quiet', check=0)
    m = json.loads((run/'manifest.json').read_text())
    assert m['run_id'] == 'run' and m['kind'] == 'paper' and m['status'] == 'done'
    assert m['params']['profile']['seed'] == 7 and m['params']['stages'] == ['01_first']
    assert m['data_source'] == {'name': 'toy', 'synthetic': True, 'path': str(data)}
    assert {i['path'].split('/')[-1]: i['size'] for i in m['inputs']} == {'rec.dat': 1000, 'bpnb_source.json': 34}
    assert all(len(i['sha256']) == 64 for i in m['inputs'])
    assert m['git']['commit'] and len(m['git']['commit']) == 40 and isinstance(m['git']['dirty'], bool)
    assert m['packages']['papermill'] and m['packages']['numpy'] and m['host']['hostname']
    assert m['started'] <= m['ended']
    # figures and tables carry their provenance
    md = (tmp_path/'f'/'tables'/'squares.md').read_text()
    assert 'bpnb run run · profile test · SYNTHETIC data: toy' in md


def test_help_texts():
    out = {cmd: bpnb(*cmd.split(), '--help', check=0).stdout for cmd in ('', 'paper', 'batch')}   # a subprocess each: ~6 s
    assert all('usage: bpnb' in o for o in out.values())
    assert '--resume' in out['paper'] and '-p NAME [VALUE ...]' in out['batch']
    assert 'no manifest here' in bpnb('report', '/nonexistent', check=2).stderr


def test_grid_stage_in_paper(tiny, tmp_path, profile):
    run, figs = tmp_path/'run', tmp_path/'figs'
    grid = profile('stages:\n  01_first: {grid: {n: [3, 4]}}\n  02_second: {grid: {fail: [false, true]}, per: {fail: {false: {scale: 5.0}}}}\n', 'grid')
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', figs, '--profile', grid, '--data', tmp_path, '--quiet', check=1)
    assert 'stage 02_second [fail=True] (1 of 2 runs failed) failed in cell' in r.stderr
    assert 'ValueError: asked to fail' in r.stderr
    assert json.loads((run/'01_first'/'n=4'/'first.json').read_text())['n'] == 4
    assert not (run/'third.json').exists()
    assert json.loads((run/'02_second'/'fail=False'/'second.json').read_text()) == {'scale': 5.0}   # the `per` value of its combination
    assert (figs/'01_first__n=3__red_square.png').is_file() and (figs/'01_first__n=4__red_square.png').is_file()
    s = state(run)
    assert s['01_first']['status'] == 'done' and s['02_second']['status'] == 'failed'
    assert s['01_first']['peak_rss_gb'] > 0.02                               # a grid stage records the kernels' peak memory too
    html = (run/'report'/'index.html').read_text()
    assert '01_first__n=3__01_first.html' in html and 'failed' in html
    # resume with the failing value dropped (same profile name): the first stage's grid is skipped as a whole
    fixed = profile('stages:\n  01_first: {grid: {n: [3, 4]}}\n  02_second: {grid: {fail: [false]}}\n', 'grid')  # same name
    r = bpnb('paper', '--nbs', tiny, '--out', run, '--figures', figs, '--profile', fixed, '--data', tmp_path, '--resume', '--quiet')
    assert '01_first: done before with the same parameters, skipped' in r.stdout


@pytest.mark.parametrize('name', ['quick', 'paper', 'smoke'])
def test_bp_profiles_fit_their_stages(name):
    """Every parameter a BP profile sets is one a stage declares, with the type of its default, for every grid value; the PPG-BP
    stage's per-network settings name networks it knows. The paper profile is never run here: this is its check."""
    from bpnb.config import load_profile
    from bpnb.runner import check_profile
    from bpnb.results import arch_settings
    cfg = load_profile(name); assert cfg['suite'] == 'bp'
    plan = {nb.stem: p for nb, p, _ in check_profile(name)}
    assert set(cfg['stages']) <= set(plan)
    p35 = plan['35_ppgbp']
    kws = arch_settings(p35['archs'], dict(epochs=p35['epochs']), p35.get('per_arch'))
    if name == 'paper': assert kws['slapnicar'].get('derivatives') and kws['alexnet'].get('derivatives') and 'derivatives' not in kws['resnet']

"""The scale suite end to end: `bpnb paper --profile scale_smoke` builds SYNTHETIC cohorts at a tiny fraction of MIMIC-B,
measures every step in a fresh process, extrapolates, kills a build and resumes it, and reports under its own sections."""
import json
import pytest
from bpnb.provenance import read_table
from conftest import bpnb, ROOT


@pytest.fixture(scope='module')
def scale_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('scale')
    (tmp/'data').mkdir()
    run = tmp/'run'
    r = bpnb('paper', '--profile', 'scale_smoke', '--data', tmp/'data', '--out', run, '--figures', tmp/'figures', '--quiet')
    assert r.returncode == 0, f'bpnb paper failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    yield run, tmp/'data'


def test_only_the_scale_stage_ran(scale_run):
    run, data = scale_run
    state = json.loads((run/'stages.json').read_text())
    assert sorted(state) == sorted(p.stem for p in (ROOT/'nbs'/'stages_scale').glob('*.ipynb'))
    assert all(s['status'] == 'done' for s in state.values()), state
    assert json.loads((run/'manifest.json').read_text())['params']['profile']['suite'] == 'scale'
    assert sorted(p.name for p in data.iterdir()) == ['bpnb_source.json']   # every build deleted once measured (keep: false); the marker stays
    assert json.loads((run/'manifest.json').read_text())['data_source']['synthetic'] is True


def test_steps_table(scale_run):
    run, _ = scale_run
    st = read_table(run/'tables'/'scale_steps.csv')
    assert list(st.step.unique()) == ['synth', 'download', 'dataset', 'split', 'stream'] and list(st['of MIMIC-B'].unique()) == ['0.02 %']
    assert (st.seconds > 0).all() and (st['peak RSS (MiB)'] >= st['max RSS, process (MiB)'] - 1).all()
    st = st.set_index('step')
    assert st.loc['split', 'windows'] == 300 and st.loc['dataset', 'dataset windows'] >= 300   # the paper's counts x the fraction
    assert st.loc['stream', 'windows'] == 200 and st.loc['stream', 'windows/s'] > 0           # one epoch of the training part
    assert st.loc['dataset', 'peak disk (MiB)'] > st.loc['dataset', 'disk (MiB)']            # the staging file was seen
    assert 'SYNTHETIC' in (run/'tables'/'scale_steps.md').read_text()
    steps = [l.split()[2] for l in (run/'logs'/'console.log').read_text().splitlines() if l.startswith('scale 0.0002: ')]
    assert steps == ['synth', 'download', 'dataset', 'split', 'stream'], steps   # a console line per step as it ends


def test_extrapolation_goals_and_figure(scale_run):
    run, _ = scale_run
    ex = read_table(run/'tables'/'scale_extrapolation.csv')
    assert ex.setting.str.contains('34,938 segments').sum() == 6
    node = ex[ex.setting.str.startswith('one node')].set_index('setting')['download']
    assert node.is_monotonic_decreasing and abs(node.iloc[0]/node.iloc[1] - 16/2) < 1e-6   # divided by the cores
    goals = read_table(run/'tables'/'scale_goals.csv')
    assert len(goals) == 5 and set(goals.met.astype(str)) <= {'True', 'False'}
    assert (run/'figures'/'scale_cost.png').is_file() and (run/'figures'/'scale_cost.pdf').is_file()


def test_resumed_build_equals_the_uninterrupted_one(scale_run):
    run, _ = scale_run
    res = read_table(run/'tables'/'scale_resume.csv')
    assert len(res) == 1 and res['hash equal'].astype(str).eq('True').all()


def test_report_follows_the_scale_sections(scale_run):
    run, _ = scale_run
    page = (run/'report'/'index.html').read_text()
    assert "data-section='S1'" in page and "data-section='S2'" in page and '4.1.3' not in page


@pytest.mark.parametrize('name', ['scale', 'scale_smoke'])
def test_scale_profiles_fit_their_stage(name):
    "Every parameter a scale profile sets is one the stage declares, with the type of its default."
    from bpnb.config import load_profile
    from bpnb.runner import check_profile
    cfg = load_profile(name); assert cfg['suite'] == 'scale'
    check_profile(name)
    assert set(cfg['stages']) == {'19_scale'}

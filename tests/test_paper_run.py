"""The whole paper, every stage, on the `smoke` profile and a tiny SYNTHETIC cohort: the stages run
together, later stages use the training stage's networks, and the executed stage notebooks hold no tests."""
import json, re, shutil
from pathlib import Path
import pandas as pd
import pytest
from conftest import bpnb, ROOT

TEST_CELL = re.compile(r'^\s*(from fastcore\.test import|import fastcore|test_(eq|ne|close|fail|is|shuffled)\(|assert\s)', re.M)


@pytest.fixture(scope='module')
def paper_run(tmp_path_factory):
    "A smoke-profile paper run (a few minutes on 2 cores): its folder."
    tmp = tmp_path_factory.mktemp('paper')
    bpnb('synth', '--subjects', 10, '--minutes', 4, '--seed', 3, '--output', tmp/'cohort', check=0)
    run = tmp/'run'
    r = bpnb('paper', '--profile', 'smoke', '--data', tmp/'cohort', '--out', run, '--figures', tmp/'figures', '--quiet')
    assert r.returncode == 0, f'bpnb paper failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    yield run
    shutil.rmtree(ROOT/'trained_models'/json.loads((run/'run.json').read_text())['uid'], ignore_errors=True)


def test_every_stage_ran(paper_run):
    state = json.loads((paper_run/'stages.json').read_text())
    stages = sorted(p.stem for p in (ROOT/'nbs'/'stages').glob('*.ipynb'))
    assert sorted(state) == sorted(stages + ['chapters']) and all(s['status'] == 'done' for s in state.values()), state
    assert (paper_run/'paper.md').is_file() and (paper_run/'report'/'index.html').is_file()


def test_later_stages_use_the_training_stages_model(paper_run):
    # the run holds a sweep (32_input_length) that trained slapnicar after the training stage did ...
    recs = {p.relative_to(paper_run).as_posix(): json.loads(p.read_text()) for p in paper_run.rglob('train_*.json')}
    sweep = [k for k, r in recs.items() if r['stage'] == '32_input_length' and r['arch'] == 'slapnicar']
    train = [k for k, r in recs.items() if r['stage'] == '21_train' and r['arch'] == 'slapnicar']
    assert sweep and len(train) == 1, recs
    mine = recs[train[0]]['model']
    # ... and personalization and rPPG transfer fine-tuned the training stage's network, not the sweep's
    for stage in ('42_personalization', '43_rppg_transfer'):
        used = [json.loads(p.read_text()) for p in (paper_run/stage).rglob('pretrained.json')]
        assert used and all(u['model'] == mine and u['stage'] == '21_train' for u in used), (stage, used, mine)


def test_executed_stage_notebooks_hold_no_tests(paper_run):
    nbs = [p for p in paper_run.rglob('*.ipynb') if 'chapters' not in p.relative_to(paper_run).parts]   # library chapters hold tests
    assert len(nbs) >= 8
    for nb in nbs:
        cells = json.loads(nb.read_text())['cells']
        bad = [c['source'] if isinstance(c['source'], str) else ''.join(c['source']) for c in cells
               if c['cell_type'] == 'code' and TEST_CELL.search(''.join(c['source']))]
        assert not bad, f'{nb.relative_to(paper_run)} holds test cells:\n' + '\n---\n'.join(bad)
        src = ''.join(''.join(c['source']) for c in cells)
        assert 'IN_TEST' not in src and 'stage: false' not in src and 'tempfile' not in src, nb


def test_models_of_the_run_are_under_its_unique_id(paper_run):
    uid = json.loads((paper_run/'run.json').read_text())['uid']
    recs = [json.loads(p.read_text()) for p in (paper_run/'21_train').rglob('train_*.json')]
    assert recs and all(Path(r['model']).is_relative_to(ROOT/'trained_models'/uid) for r in recs)


def test_findings_are_checked_on_the_run(paper_run):
    # every finding of the paper has rows in the run's findings table (the smoke run's numbers need not hold them)
    import pandas as pd
    f = pd.read_csv(paper_run/'tables'/'findings.csv', comment='#')
    assert set(f.finding) == {'networks', 'mixed_split', 'personalization', 'rppg', 'sweep'}, f
    assert f.loc[f.finding == 'networks', 'what'].tolist() == ['slapnicar SBP', 'slapnicar DBP']
    # the mixed-split stage trained the same network on a sample split, and the check compared the two
    mixed = f[f.finding == 'mixed_split']
    assert len(mixed) == 2 and mixed.holds.notna().all() and mixed.measured.str.contains('mixed split').all(), mixed
    # the sweep's lengths were tested on ONE subject split (the data stage's), shared by split_like
    sweep = f[f.finding == 'sweep'].iloc[0]
    assert sweep.measured == 'lengths 4, 7 s; 1 subject split', sweep.measured
    assert f[f.finding.isin(['personalization', 'rppg'])].holds.notna().all()


def test_library_chapters_are_executed_into_the_run_and_linked(paper_run):
    nb = paper_run/'chapters'/'30_metrics.ipynb'           # the smoke profile's one chapter
    cells = json.loads(nb.read_text())['cells']
    assert sum(bool(c.get('outputs')) for c in cells if c['cell_type'] == 'code') >= 3 and not nb.stat().st_mode & 0o222
    page = (paper_run/'report'/'index.html').read_text()
    assert "href='chapters__30_metrics.html'" in page and (paper_run/'report'/'chapters__30_metrics.html').is_file()


def test_side_studies_delete_their_networks_and_the_training_stage_keeps_its_own(paper_run):
    uid = json.loads((paper_run/'run.json').read_text())['uid']
    models = ROOT/'trained_models'/uid
    assert [p.relative_to(models).parts[0] for p in models.rglob('*.keras')] == ['21_train']
    for folder in (models/'32_input_length', models/'33_mixed_split', paper_run/'ppgbp'):
        gone = json.loads((folder/'models_removed.json').read_text())['removed']
        assert gone and all(not Path(g['path']).exists() and g['bytes'] > 0 for g in gone), folder
    # the mixed split read the data stage's windows: it made a split, not another dataset
    assert not list((paper_run/'33_mixed_split').rglob('dataset.h5')) and list((paper_run/'33_mixed_split').rglob('split.json'))


def test_a_batch_of_the_sweep_records_its_own_networks(tmp_path):
    "`bpnb batch` of the window-length sweep notebook (one sweep per network): each sweep finds the networks it trained."
    bpnb('synth', '--subjects', 10, '--minutes', 4, '--seed', 3, '--output', tmp_path/'cohort', check=0)
    out = tmp_path/'batch'
    r = bpnb('batch', ROOT/'nbs'/'stages'/'32_input_length.ipynb', '-p', 'arch', 'alexnet', '--profile', 'smoke',
             '--data', tmp_path/'cohort', '--out', out, '--quiet', check=0)
    try:
        assert r.returncode == 0, f'bpnb batch failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}'
        recs = [json.loads(p.read_text()) for p in out.rglob('train_*.json')]
        assert sorted(r['win_s'] for r in recs) == [4.0, 7.0] and {r['stage'] for r in recs} == {'32_input_length'}, recs
        sweep = pd.read_csv(out/'arch=alexnet'/'tables'/'input_length_mae.csv', comment='#')
        assert sorted(sweep.groupby('win_s').model.nunique().items()) == [(4.0, 2), (7.0, 2)], sweep   # the network and the baseline
    finally:
        shutil.rmtree(ROOT/'trained_models'/json.loads((out/'run.json').read_text())['uid'], ignore_errors=True)

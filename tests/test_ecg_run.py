"""The ECG suite end to end: `bpnb paper --profile ecg_smoke` runs the ECG stages (never the BP paper's) on the
real shared data, writes their tables and figures, saves classifiers that `bpnb ecg classify` uses, and builds
a report laid out by the ECG sections."""
import json, shutil
import pandas as pd
from bpnb.provenance import read_table
import pytest
from bpnb.config import shared_data
from conftest import bpnb, ROOT


@pytest.fixture(scope='module')
def ecg_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ecg')
    run = tmp/'run'
    r = bpnb('paper', '--profile', 'ecg_smoke', '--out', run, '--figures', tmp/'figures', '--quiet')
    assert r.returncode == 0, f'bpnb paper failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}'
    yield run
    shutil.rmtree(ROOT/'trained_models'/json.loads((run/'run.json').read_text())['uid'], ignore_errors=True)


def test_only_the_ecg_stages_ran(ecg_run):
    state = json.loads((ecg_run/'stages.json').read_text())
    assert sorted(state) == sorted(p.stem for p in (ROOT/'nbs'/'stages_ecg').glob('*.ipynb'))
    assert all(s['status'] == 'done' for s in state.values()), state
    man = json.loads((ecg_run/'manifest.json').read_text())
    assert man['params']['profile']['suite'] == 'ecg' and man['data_source']['synthetic'] is False


def test_tables_and_figures(ecg_run):
    cv = read_table(ecg_run/'tables'/'ecg_china_cv.csv')
    assert set(cv.model) == {'majority', 'features', 'tutorial'} and set(cv.metric) == {'accuracy', 'F1', 'AUROC'}
    acc = cv[cv.metric == 'accuracy'].set_index('model')
    assert acc.loc['majority', 'mean'] == 0.5                     # the baseline is chance on balanced folds
    assert ((cv.lo <= cv['mean']) & (cv['mean'] <= cv.hi) & (cv.lo >= 0) & (cv.hi <= 1)).all()
    folds = read_table(ecg_run/'tables'/'ecg_china_folds.csv')
    assert len(folds) == 3*2 and folds.groupby('model').n_test.sum().eq(16).all()   # 16 records, 2 folds, each tested once
    for f in ('ecg_china_examples', 'ecg_china_cv', 'ecg_china_roc', 'ecg_china_confusion', 'ecg_china_training'):
        assert (ecg_run/'figures'/f'{f}.png').is_file() and (ecg_run/'figures'/f'{f}.pdf').is_file(), f
    for f in ('ecg_china_cv.md', 'ecg_china_folds.md'):
        assert 'First China ECG Intelligent Competition' in (ecg_run/'tables'/f).read_text()   # the data source on every table


def test_cinc2020_scores(ecg_run):
    cv = read_table(ecg_run/'tables'/'ecg_cinc2020_scores.csv')
    assert set(cv.model) == {'majority', 'features', 'resnet'}
    assert list(cv.metric.unique()) == ['AUROC', 'AUPRC', 'Accuracy', 'F-measure', 'Fbeta-measure', 'Gbeta-measure', 'Challenge metric']
    auc = cv[cv.metric == 'AUROC'].set_index('model')['mean']
    assert auc['majority'] == 0.5 and auc['features'] > 0.5          # a constant scores chance; the trees do better on 40 records
    per = read_table(ecg_run/'tables'/'ecg_cinc2020_per_class.csv')
    assert len(per) == 3*24 and per.groupby('model').labels.sum().nunique() == 1
    for f in ('ecg_cinc2020_example', 'ecg_cinc2020_cv', 'ecg_cinc2020_per_class', 'ecg_cinc2020_confusion'):
        assert (ecg_run/'figures'/f'{f}.png').is_file(), f


def test_ludb_delineation_stage(ecg_run):
    seg = read_table(ecg_run/'tables'/'ecg_ludb_segmentation.csv')
    assert list(seg.model.unique()) == ['tcn', 'neurokit2 dwt']       # the network, then the classical delineator on the same records
    for m, s in seg.groupby('model'): assert list(s['class']) == ['NONE', 'P', 'QRS', 'T', 'macro'], m   # a row per class, a macro row
    assert ((seg.f1_lo <= seg.f1) & (seg.f1 <= seg.f1_hi)).all() and seg.f1.between(0, 1).all()
    dwt = seg[seg.model == 'neurokit2 dwt'].set_index('class')
    assert dwt.loc['QRS', 'f1'] > 0.5, dwt                             # the wavelets find the QRS complexes
    dl = read_table(ecg_run/'tables'/'ecg_ludb_delineation.csv').set_index(['model', 'kind', 'fiducial'])
    assert dl.loc[('neurokit2 dwt', 'QRS', 'onset'), 'mean_ms'] < -10  # and put their onsets early, as on all of LUDB
    lite = read_table(ecg_run/'tables'/'ecg_ludb_litert.csv')
    assert set(lite.flavour) == {'keras', 'float', 'int8'} and (lite.bytes > 0).all()
    assert abs(lite.set_index('flavour').loc['float', 'difference']) < 0.01     # the float LiteRT model labels as Keras does
    assert json.loads((ecg_run/'ecg_models.json').read_text())['ludb']


def test_segment_command(ecg_run, tmp_path):
    "`bpnb ecg segment` with the model the stage saved, its INT8 export, on a LUDB record copied beside a pressure-only one."
    model = json.loads((ecg_run/'ecg_models.json').read_text())['ludb']['tcn']
    recs = tmp_path/'recs'; recs.mkdir()
    for ext in ('hea', 'dat'): (recs/f'1.{ext}').write_bytes((shared_data('ludb')/'data'/f'1.{ext}').read_bytes())
    import wfdb, numpy as np
    wfdb.wrsamp('abp', 125, ['mmHg'], ['ABP'], p_signal=80 + np.zeros((1250, 1)), fmt=['16'], write_dir=str(recs))
    r = bpnb('ecg', 'segment', '--model', model, '--engine', 'int8', recs, tmp_path/'out')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'bpnb ecg segment: 1 of 2 records delineated (int8)' in r.stdout and 'abp: left out: no channel in a unit of voltage' in r.stdout, r.stdout
    waves = pd.read_csv(tmp_path/'out'/'1_waves.csv')
    assert np.load(tmp_path/'out'/'1_mask.npy').shape == (12, 5000) and not (tmp_path/'out'/'abp_mask.npy').exists()
    assert set(waves.lead) <= {'i', 'ii', 'iii', 'avr', 'avl', 'avf', 'v1', 'v2', 'v3', 'v4', 'v5', 'v6'} and set(waves.kind) <= {'P', 'QRS', 'T'}
    assert (waves.onset <= waves.peak).all() and (waves.peak <= waves.offset).all() and waves.offset.max() < 5000


def test_ppg_target_stage(ecg_run):
    sc = read_table(ecg_run/'tables'/'ppg_target_scores.csv')
    assert set(sc.source) == {'synthetic', 'uci'} and set(sc.model) == {'network', 'mean baseline'}
    assert {'RMSE', 'MAE', 'MeAD', 'R2'} <= set(sc.columns) and set(sc.target) == {'MAP', 'HR'}
    assert (sc.RMSE >= sc.MAE - 1e-9).all()                          # RMSE is never below MAE
    assert 'SYNTHETIC' in (ecg_run/'tables'/'ppg_target_scores_synthetic.md').read_text()
    assert 'WITHIN-SUBJECT' in (ecg_run/'tables'/'ppg_target_scores_uci.md').read_text()
    for f in ('ppg_target_hist2d_uci_MAP', 'ppg_target_loss_lr_synthetic'): assert (ecg_run/'figures'/f'{f}.png').is_file(), f


def test_saved_classifiers_classify_new_records(ecg_run, tmp_path):
    saved = json.loads((ecg_run/'ecg_models.json').read_text())
    models = saved['china']
    assert sorted(models) == ['features', 'majority', 'tutorial'] and sorted(saved['cinc2020']) == ['features', 'majority', 'resnet']
    src = ROOT.parent/'shared'/'data'/'china_ecg_2019_prelim'/'TRAIN'
    new = tmp_path/'new'; new.mkdir()
    for r in ('TRAIN150', 'TRAIN151', 'TRAIN460'): shutil.copy(src/f'{r}.mat', new)
    r = bpnb('ecg', 'classify', '--model', models['tutorial'], new, tmp_path/'out', check=0)
    assert sorted(p.name for p in (tmp_path/'out').iterdir()) == ['TRAIN150.csv', 'TRAIN151.csv', 'TRAIN460.csv']


def test_report_follows_the_ecg_sections(ecg_run):
    page = (ecg_run/'report'/'index.html').read_text()
    assert "data-section='E1'" in page and "data-section='E2'" in page and "data-section='R1'" in page and '12-lead ECG classification, binary' in page
    assert '4.1.3' not in page and 'MIMIC-B' not in page         # nothing of the BP paper's layout


@pytest.mark.parametrize('name', ['ecg', 'ecg_smoke', 'ecg_full'])
def test_ecg_profiles_fit_their_stages(name):
    "Every parameter an ECG profile sets is one a stage declares, with the type of its default (checked before any kernel starts)."
    from bpnb.config import load_profile
    from bpnb.runner import check_profile
    assert load_profile(name)['suite'] == 'ecg'
    assert [nb.parent.name for nb, _, _ in check_profile(name)] == ['stages_ecg']*4

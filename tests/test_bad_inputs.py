"""The bad-input suite: `bpnb` commands given bad files, bad arguments, bad profiles and interrupted runs.

Every case asserts the exit code, that the message names the file or argument at fault (one line, no
traceback), and that what was written before is unchanged. The commands run in this process through
`bpnb.cli.main` (the console script's entry point) so that the suite stays fast; the interrupted runs
kill a real `bpnb` process. `nbs/04_cli.ipynb` shows the table of cases and outcomes
(`bad_input_table`)."""
import contextlib, hashlib, io, json, os, shutil, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
from conftest import BPNB, ROOT
from bpnb.cli import main
from bpnb.config import shared_data, exclusive
from bpnb.synthetic import write_cohort
from bpnb.mimic3 import download_mimic3, window_file
from bpnb.dataset import prepare, split

STAGE = ROOT/'nbs'/'stages'/'21_train.ipynb'


def run(*argv):
    "Exit code, stdout and stderr of `bpnb ARGV...` run in this process."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code                          # argparse
    return rc, out.getvalue(), err.getvalue()


def digest(*paths):
    "SHA-256 of every file under the paths (what 'unchanged' means)."
    files = [f for p in map(Path, paths) for f in ([p] if p.is_file() else sorted(p.rglob('*'))) if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "Good inputs and outputs made once: a SYNTHETIC cohort, its download, a dataset, the UCI and PPG-BP subsets."
    w = tmp_path_factory.mktemp('world')
    cohort = write_cohort(w/'cohort', subjects=3, minutes=2, seed=1, progress=False)
    download_mimic3(cohort/'ppg_abp_segments.txt', w/'win', mirror=cohort, workers=0, progress=False)
    prepare('mimic3', w/'win', w/'ds.h5', min_windows=5, progress=False)
    split(w/'ds.h5', 'sample', output=w/'split')
    shutil.copytree(shared_data('uci_cuffless_bp_subset'), w/'uci')
    (w/'ppgbp').mkdir(); shutil.copytree(shared_data('ppg_bp_liang2018')/'0_subject', w/'ppgbp'/'0_subject')
    from bpnb.ecg.train import train_task
    train_task('china', shared_data('china_ecg_2019_prelim'), w/'ecg_model', 'majority', progress=False)
    shutil.copy(shared_data('ppg_bp_liang2018')/'subjects.csv', w/'ppgbp')
    return w


def copy(world, tmp, name):
    "A private copy of one of the world's inputs, to be broken."
    src, dst = world/name, tmp/name
    (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return dst


# ---- the cases: (id, setup(world, tmp) -> (argv, protected paths), exit code, words the message must hold)
def _mirror(edit):
    def setup(w, t):
        m = copy(w, t, 'cohort'); target = edit(m, t)
        return ['download', 'mimic3', '--mirror', m, '--output', t/'out', '--workers', 0], [m]
    return setup

def _listed(m, k, ext):
    "The file `ext` of the k-th segment of the mirror's list."
    d, seg = (m/'ppg_abp_segments.txt').read_text().split()[k].split('/')
    return m/d/seg.split('_')[0]/f'{seg}{ext}'
def _truncate_dat(m, t):
    f = _listed(m, 0, '.dat'); f.write_bytes(f.read_bytes()[:1000]); return f
def _bad_header(m, t):
    f = _listed(m, 1, '.hea'); lines = f.read_text().splitlines()
    lines[0] = ' '.join([lines[0].split()[0], '5', *lines[0].split()[2:]]); f.write_text('\n'.join(lines) + '\n'); return f
def _no_header(m, t):
    f = _listed(m, 0, '.hea'); f.unlink(); return f

def _records(text):
    def setup(w, t):
        lst = t/'list.txt'; lst.write_text(text)
        return ['download', 'mimic3', '--mirror', w/'cohort', '--records', lst, '--output', t/'out', '--workers', 0], [w/'cohort']
    return setup

def _download_into(w, t, **kw):
    out = copy(w, t, 'win'); mirror = kw.get('mirror', w/'cohort')
    return ['download', 'mimic3', '--mirror', mirror, '--output', out, '--workers', 0, *kw.get('extra', [])], [out]

def _download_other_mirror(w, t):
    other = copy(w, t, 'cohort')                                      # the same cohort, elsewhere: another source
    return _download_into(w, t, mirror=other)

def _hold(path, what):
    "A lock on `path` held by a live process (this one), as another command running would hold it."
    path.with_name(f'.{path.name}.lock').write_text(json.dumps(dict(pid=os.getpid(), host=os.uname().nodename, what=what, since='now')))

def _download_locked(w, t):
    argv, prot = _download_into(w, t); _hold(t/'win', 'bpnb download mimic3')
    return argv, prot

def _prepare_locked(w, t):
    _hold(t/'x.h5', 'bpnb prepare uci')
    return ['prepare', 'uci', '--input', w/'uci', '--output', t/'x.h5', '--min-windows', 0], [w/'uci']

def _disk_full(w, t):
    "The disk fills up while the dataset is written (simulated): the dataset written before stays, no temporary file is left."
    import bpnb.dataset as bd
    good = t/'good.h5'; shutil.copy(w/'ds.h5', good)
    real = bd.read_rows
    def full(*a, **k): raise OSError(28, 'No space left on device', str(good))
    bd.read_rows = full                                                   # restored by test_bad_input's finally
    _RESTORE.append(lambda: setattr(bd, 'read_rows', real))
    return ['prepare', 'uci', '--input', w/'uci', '--output', good, '--min-windows', 0], [good]

_RESTORE = []

def _paper_locked(w, t):
    _hold(t/'run', 'bpnb paper')
    return ['paper', '--profile', 'smoke', '--data', w/'cohort', '--out', t/'run', '--quiet'], [w/'cohort']

def _h5_edit(key, value):
    "A copy of the dataset with window 5's `key` set to `value` (None: the dataset removed), as a hand edit would leave it."
    def setup(w, t):
        import h5py
        ds = copy(w, t, 'ds.h5')
        with h5py.File(ds, 'r+') as f:
            if value is None: del f[key]
            else: f[key][5] = value
        return ['split', ds, '--mode', 'sample', '--output', t/'sp'], [ds]
    return setup

def _split_locked(w, t):
    _hold(t/'sp', 'bpnb split')
    return ['split', w/'ds.h5', '--mode', 'sample', '--output', t/'sp'], []

def _synth_locked(w, t):
    _hold(t/'c', 'bpnb synth')
    return ['synth', '--output', t/'c', '--subjects', 1, '--minutes', 0.5], []

def _split_truncated(w, t):
    (t/'cut.h5').write_bytes((w/'ds.h5').read_bytes()[:4096])
    return ['split', t/'cut.h5', '--output', t/'sp'], []

def _uci(edit):
    def setup(w, t):
        u = copy(w, t, 'uci'); edit(u)
        good = t/'good.h5'; shutil.copy(w/'ds.h5', good)            # a dataset written before, at the output path
        return ['prepare', 'uci', '--input', u, '--output', good, '--min-windows', 0], [good, u]
    return setup

def _ppgbp(edit):
    def setup(w, t):
        p = copy(w, t, 'ppgbp'); edit(p)
        good = t/'good.h5'; shutil.copy(w/'ds.h5', good)
        return ['prepare', 'ppgbp', '--input', p, '--output', good], [good, p]
    return setup

def _csv_rows(edit):
    def do(p):
        rows = (p/'subjects.csv').read_text().splitlines(); (p/'subjects.csv').write_text('\n'.join(edit(rows)) + '\n')
    return do

def _h5_cmd(argv_of):
    def setup(w, t):
        ds = copy(w, t, 'ds.h5'); sp = copy(w, t, 'split')
        return argv_of(ds, sp, t), [ds, sp]
    return setup

def _profile(text, extra=()):
    def setup(w, t):
        p = t/'my.yaml'; p.write_text(text)
        return ['paper', '--profile', p, '--data', w/'cohort', '--out', t/'run', '--quiet', *extra], [w/'cohort']
    return setup

def _synth_over(w, t):
    mine = t/'mine'; mine.mkdir(); (mine/'notes.csv').write_text('a,b\n1,2\n')
    return ['synth', '--output', mine, '--overwrite', '--subjects', 1, '--minutes', 0.5], [mine]

def _write_file(name, data):
    def do(u): (u/name).write_bytes(data)
    return do

def _china(edit, cmd='train'):
    "A private copy of 6 China 2019 records with their labels, broken by `edit`, then `bpnb ecg train china` (or classify) on it."
    def setup(w, t):
        src = shared_data('china_ecg_2019_prelim'); c = t/'china'; c.mkdir()
        rows = [l for l in (src/'reference.txt').read_text().splitlines() if l.strip()]
        rows = rows[:3] + rows[-3:]
        for r in rows: shutil.copy(src/'TRAIN'/f"{r.split()[0]}.mat", c)
        (c/'reference.txt').write_text('\n'.join(rows) + '\n'); edit(c)
        if cmd == 'train': return ['ecg', 'train', 'china', '--data', c, '--out', t/'model', '--arch', 'majority'], [c]
        return ['ecg', 'classify', '--model', w/'ecg_model', c, t/'out'], [c, w/'ecg_model']
    return setup

def _china_mat(name, **arrays):
    def edit(c):
        import scipy.io
        scipy.io.savemat(c/name, arrays)
    return edit

def _cinc(edit):
    "A private copy of 4 PhysioNet/CinC 2020 records broken by `edit`, then `bpnb ecg train cinc2020` on it."
    def setup(w, t):
        src = shared_data('physionet2020_subset')/'georgia'; c = t/'cinc'; c.mkdir()
        for h in sorted(src.glob('*.hea'))[:4]: shutil.copy(h, c); shutil.copy(h.with_suffix('.mat'), c)
        edit(c)
        return ['ecg', 'train', 'cinc2020', '--data', c, '--out', t/'model', '--arch', 'majority'], [c]
    return setup

def _first_hea(c): return sorted(c.glob('*.hea'))[0]

def _ecg_score(edit):
    "Labels of 2 China records and outputs written by the world's model, the outputs broken by `edit`."
    def setup(w, t):
        src = shared_data('china_ecg_2019_prelim'); lab = t/'labels'; lab.mkdir(); out = t/'out'; out.mkdir()
        for r, l in (('TRAIN101', 1), ('TRAIN401', 0)):
            (out/f'{r}.csv').write_text(f'#{r}\n0,1\n{1 - l},{l}\n0.2,0.8\n')
        (lab/'reference.txt').write_text('TRAIN101\t1\nTRAIN401\t0\n'); edit(out)
        return ['ecg', 'score', lab, out], [lab]
    return setup

def _not_model(w, t):
    m = t/'mine'; m.mkdir(); (m/'notes.txt').write_text('my notes')
    return ['ecg', 'train', 'china', '--data', shared_data('china_ecg_2019_prelim'), '--out', m, '--arch', 'majority'], [m]

CASES = [
    # WFDB records: a download never exits 0 when records fail, and names its log and the file in it
    ('wfdb-truncated-dat', 'WFDB records', _mirror(_truncate_dat), 1, ['download_log.csv']),
    ('wfdb-header-signal-count', 'WFDB records', _mirror(_bad_header), 1, ['download_log.csv']),
    ('wfdb-missing-header', 'WFDB records', _mirror(_no_header), 1, ['download_log.csv']),
    ('records-dotdot', 'WFDB records', _records('90/9000000_0001\n../evil_0001\n'), 2, ['list.txt:2', "'../evil_0001'", 'not a mimic3wdb entry']),
    ('records-absolute', 'WFDB records', _records('/etc/passwd\n'), 2, ['list.txt:1', 'not a mimic3wdb entry']),
    ('records-dot-dir', 'WFDB records', _records('./9000000_0001\n'), 2, ['list.txt:1']),
    ('records-folder-line', 'WFDB records', _records('90/9000000/\n'), 2, ['list.txt:1', 'record folder']),
    ('records-empty', 'WFDB records', _records('# nothing\n\n'), 2, ['list.txt', 'holds no entries']),
    ('records-missing-file', 'WFDB records', lambda w, t: (['download', 'mimic3', '--mirror', w/'cohort', '--records', t/'nope.txt', '--output', t/'o'], []), 2, ['nope.txt', 'not found']),
    ('records-unknown-segments', 'WFDB records', _records('90/9999999_0001\n91/9100001_0001\n'), 1, ['2 of 2 records failed', 'none gave windows', 'download_log.csv']),
    ('download-limit-negative', 'CLI arguments', lambda w, t: _download_into(w, t, extra=['--limit', -1]), 2, ['limit must be a positive integer']),
    ('download-limit-zero', 'CLI arguments', lambda w, t: _download_into(w, t, extra=['--limit', 0]), 2, ['limit must be a positive integer']),
    ('download-other-mirror', 'WFDB records', _download_other_mirror, 2, ['win', 'source', 'never mixed']),
    ('download-label-mode-change', 'WFDB records', lambda w, t: _download_into(w, t, extra=['--mode', 'paper']), 2, ["label_mode 'fixed' (now 'paper')"]),
    ('download-locked', 'interrupted runs', _download_locked, 2, ['is being written by another process', 'bpnb download mimic3']),
    ('download-no-source', 'CLI arguments', lambda w, t: (['download', 'mimic3', '--output', t/'o'], []), 2, ['give --records FILE']),
    ('download-mirror-missing', 'CLI arguments', lambda w, t: (['download', 'mimic3', '--mirror', t/'nowhere', '--output', t/'o'], []), 2, ['--mirror', 'nowhere: no such folder']),
    ('download-mirror-not-a-mirror', 'WFDB records', lambda w, t: (['download', 'mimic3', '--mirror', w/'uci', '--output', t/'o'], [w/'uci']), 2, ['uci', 'neither a mimic3wdb-layout mirror']),
    ('prepare-disk-full', 'interrupted runs', _disk_full, 2, ['No space left on device']),
    ('paper-run-locked', 'interrupted runs', _paper_locked, 2, ['run is being written by another process (bpnb paper']),
    # UCI files: the file is named, the dataset written before stays
    ('uci-text-in-numbers', 'UCI files', _uci(lambda u: (u/'rec_3.csv').write_text('1,2,x\n4,5,6\n7,8,9\n')), 2, ['rec_3.csv', 'not a UCI record CSV']),
    ('uci-semicolons', 'UCI files', _uci(lambda u: (u/'rec_3.csv').write_text('1;2;3\n4;5;6\n7;8;9\n')), 2, ['rec_3.csv', 'not a UCI record CSV']),
    ('uci-ragged-rows', 'UCI files', _uci(lambda u: (u/'rec_3.csv').write_text('1,2,3\n4,5\n7,8,9\n')), 2, ['rec_3.csv', 'not a UCI record CSV']),
    ('uci-two-rows', 'UCI files', _uci(lambda u: (u/'rec_3.csv').write_text('1,2,3\n4,5,6\n')), 2, ['rec_3.csv', 'expected 3 lines']),
    ('uci-mat-not-hdf5', 'UCI files', _uci(_write_file('Part_1.mat', b'MATLAB 5.0 MAT-file, old format')), 2, ['Part_1.mat', 'not a MATLAB v7.3']),
    ('uci-empty-folder', 'UCI files', _uci(lambda u: [f.unlink() for f in u.glob('rec_*.csv')]), 2, ['no UCI records']),
    ('uci-input-missing', 'UCI files', lambda w, t: (['prepare', 'uci', '--input', t/'nowhere', '--output', t/'x.h5'], []), 2, ['nowhere', 'does not exist']),
    ('prepare-output-is-folder', 'HDF5 datasets', lambda w, t: (['prepare', 'uci', '--input', w/'uci', '--output', t, '--min-windows', 0], [w/'uci']), 2, ['is a folder; give the HDF5 file']),
    ('prepare-output-locked', 'interrupted runs', _prepare_locked, 2, ['x.h5 is being written by another process (bpnb prepare uci']),
    ('prepare-mimic3-not-a-download', 'HDF5 datasets', lambda w, t: (['prepare', 'mimic3', '--input', w/'uci', '--output', t/'x.h5'], []), 2, ['not a download_mimic3 output folder']),
    # PPG-BP tables
    ('ppgbp-empty-sbp', 'PPG-BP tables', _ppgbp(_csv_rows(lambda r: [r[0], r[1].replace(',161,89,', ',,89,')] + r[2:])), 2, ['subjects.csv', 'subjects [2] have an empty or non-numeric SBP/DBP']),
    ('ppgbp-text-dbp', 'PPG-BP tables', _ppgbp(_csv_rows(lambda r: [r[0], r[1].replace(',161,89,', ',161,high,')] + r[2:])), 2, ['subjects.csv', 'non-numeric']),
    ('ppgbp-duplicate-subject', 'PPG-BP tables', _ppgbp(_csv_rows(lambda r: r + [r[1]])), 2, ['subjects.csv', 'subject_ID [2] listed more than once']),
    ('ppgbp-missing-column', 'PPG-BP tables', _ppgbp(_csv_rows(lambda r: [r[0].replace('Diastolic', 'Dia')] + r[1:])), 2, ['subjects.csv', 'lacks columns']),
    ('ppgbp-corrupt-xlsx', 'PPG-BP tables', _ppgbp(lambda p: ((p/'subjects.csv').unlink(), (p/'PPG-BP dataset.xlsx').write_bytes(b'PK not really'))), 2, ['PPG-BP dataset.xlsx', 'not a readable']),
    ('ppgbp-no-table', 'PPG-BP tables', _ppgbp(lambda p: (p/'subjects.csv').unlink()), 2, ['no PPG-BP subject table']),
    ('ppgbp-segment-text', 'PPG-BP tables', _ppgbp(lambda p: sorted((p/'0_subject').glob('2_*.txt'))[0].write_text('12 13 oops')), 2, ['2_1.txt', 'PPG-BP segment of subject 2']),
    ('ppgbp-segment-short', 'PPG-BP tables', _ppgbp(lambda p: sorted((p/'0_subject').glob('3_*.txt'))[0].write_text('1 2 3')), 2, ['3_1.txt', 'need 2100']),
    ('ppgbp-no-segments-folder', 'PPG-BP tables', _ppgbp(lambda p: shutil.rmtree(p/'0_subject')), 2, ['no 0_subject/ folder']),
    ('ppgbp-subject-without-segments', 'PPG-BP tables', _ppgbp(lambda p: [f.unlink() for f in (p/'0_subject').glob('2_*.txt')]), 2, ['no segments for subjects [2]']),
    # HDF5 datasets and splits
    ('split-not-hdf5', 'HDF5 datasets', lambda w, t: (['split', w/'uci'/'rec_1.csv', '--output', t/'sp'], [w/'uci']), 2, ['rec_1.csv', 'not a readable HDF5 file']),
    ('split-missing-file', 'HDF5 datasets', lambda w, t: (['split', t/'none.h5', '--output', t/'sp'], []), 2, ['none.h5', 'no such dataset file']),
    ('split-zero-windows', 'HDF5 datasets', _h5_cmd(lambda ds, sp, t: ['split', ds, '--mode', 'sample', '--n-windows', 0, 0, 0, '--output', sp]), 2, ['n_windows must be positive']),
    ('split-too-many-windows', 'HDF5 datasets', _h5_cmd(lambda ds, sp, t: ['split', ds, '--mode', 'sample', '--n-windows', 10**6, 1, 1, '--output', sp]), 2, ["asked for 1,000,000 windows"]),
    ('split-too-few-subjects', 'HDF5 datasets', _h5_cmd(lambda ds, sp, t: ['split', ds, '--mode', 'subject', '--output', sp]), 2, ['ds.h5 has', 'too few for a subject split']),
    ('split-truncated-h5', 'HDF5 datasets', _split_truncated, 2, ['cut.h5']),
    ('split-subject-idx-out-of-range', 'HDF5 datasets', _h5_edit('subject_idx', 99), 2, ['ds.h5', 'outside the', 'subjects it lists']),
    ('split-nan-label', 'HDF5 datasets', _h5_edit('label', np.nan), 2, ['ds.h5', 'window 5 has a non-finite label']),
    ('split-lacks-labels', 'HDF5 datasets', _h5_edit('label', None), 2, ['ds.h5', 'not a bpnb dataset, it lacks label']),
    ('split-output-locked', 'interrupted runs', _split_locked, 2, ['sp is being written by another process (bpnb split']),
    ('synth-output-locked', 'interrupted runs', _synth_locked, 2, ['c is being written by another process (bpnb synth']),
    # CLI arguments
    ('train-unknown-arch', 'CLI arguments', lambda w, t: (['train', '--arch', 'bogus'], []), 2, ["--arch: invalid choice: 'bogus'"]),
    ('train-zero-epochs', 'CLI arguments', lambda w, t: (['train', '--arch', 'alexnet', '--epochs', 0, '--data', w/'cohort', '--out', t/'r'], [w/'cohort']), 2, ['epochs must be an integer >= 1']),
    ('train-negative-lr', 'CLI arguments', lambda w, t: (['train', '--arch', 'alexnet', '--lr', -1, '--data', w/'cohort', '--out', t/'r'], [w/'cohort']), 2, ['lr must be a positive number']),
    ('train-lstm-derivatives', 'CLI arguments', lambda w, t: (['train', '--arch', 'lstm', '--derivatives', '--data', w/'cohort', '--out', t/'r'], [w/'cohort']), 2, ['derivative']),
    ('batch-not-a-number', 'CLI arguments', lambda w, t: (['batch', STAGE, '-p', 'epochs', 'notanumber', '--out', t/'b'], []), 2, ["parameter epochs must be int like its default 1, got 'notanumber'"]),
    ('batch-float-for-int', 'CLI arguments', lambda w, t: (['batch', STAGE, '-p', 'epochs', 2.5, '--out', t/'b'], []), 2, ['parameter epochs must be int']),
    ('batch-unknown-parameter', 'CLI arguments', lambda w, t: (['batch', STAGE, '-p', 'bogus', 1, '--out', t/'b'], []), 2, ['declares no parameter bogus']),
    ('batch-missing-notebook', 'CLI arguments', lambda w, t: (['batch', t/'none.ipynb', '-p', 'epochs', 1], []), 2, ['none.ipynb', 'no such notebook']),
    ('report-not-a-run', 'CLI arguments', lambda w, t: (['report', w/'cohort'], [w/'cohort']), 2, ['is', 'a bpnb run folder']),
    ('synth-overwrite-foreign-folder', 'CLI arguments', _synth_over, 2, ['mine', 'never replaces a folder it did not write']),
    ('synth-output-is-file', 'CLI arguments', lambda w, t: (['synth', '--output', w/'cohort'/'RECORDS', '--subjects', 1], [w/'cohort']), 2, ['RECORDS', 'is a file']),
    ('synth-zero-subjects', 'CLI arguments', lambda w, t: (['synth', '--output', t/'c', '--subjects', 0], []), 2, ['subjects must be 1..1000000']),
    ('synth-other-cohort', 'CLI arguments', lambda w, t: (['synth', '--output', w/'cohort', '--subjects', 4, '--minutes', 2, '--seed', 1], [w/'cohort']), 2, ['holds a different synthetic cohort']),
    ('unknown-command', 'CLI arguments', lambda w, t: (['frobnicate'], []), 2, ["invalid choice: 'frobnicate'"]),
    # ECG records, models and outputs (bpnb ecg)
    ('ecg-train-missing-folder', 'ECG records', lambda w, t: (['ecg', 'train', 'china', '--data', t/'nowhere', '--out', t/'m'], []), 2, ['nowhere', 'no such folder']),
    ('ecg-train-unlabelled', 'ECG records', _china(lambda c: (c/'reference.txt').unlink()), 2, ['china', 'no labels (reference.txt) to train on']),
    ('ecg-china-mat-no-data', 'ECG records', _china(_china_mat('TRAIN101.mat', x=np.zeros((12, 5000)))), 2, ['TRAIN101.mat', "'data'"]),
    ('ecg-china-mat-wrong-shape', 'ECG records', _china(_china_mat('TRAIN101.mat', data=np.zeros((12, 4000)))), 2, ['TRAIN101.mat', 'has shape (12, 4000)', 'expected a numeric (12, 5000) array']),
    ('ecg-china-not-a-mat', 'ECG records', _china(lambda c: (c/'TRAIN101.mat').write_bytes(b'not a MAT file')), 2, ['TRAIN101.mat']),
    ('ecg-china-reference-malformed', 'ECG records', _china(lambda c: (c/'reference.txt').write_text('TRAIN101 1 extra\n')), 2, ['reference.txt', 'line 1']),
    ('ecg-china-listed-but-missing', 'ECG records', _china(lambda c: (c/'TRAIN101.mat').unlink()), 2, ['reference.txt', 'TRAIN101']),
    ('ecg-cinc-gain-not-a-number', 'ECG records', _cinc(lambda c: _first_hea(c).write_text(_first_hea(c).read_text().replace('1000/mV', 'abc/mV', 1))), 2, ['.hea', 'gain']),
    ('ecg-cinc-mat-missing', 'ECG records', _cinc(lambda c: _first_hea(c).with_suffix('.mat').unlink()), 2, ['.mat']),
    ('ecg-cinc-no-dx', 'ECG records', _cinc(lambda c: _first_hea(c).write_text(''.join(l for l in _first_hea(c).read_text().splitlines(True) if not l.startswith('#Dx')))), 2, ['.hea', 'Dx']),
    ('ecg-classify-not-a-model', 'ECG records', lambda w, t: (['ecg', 'classify', '--model', w/'uci', w/'uci', t/'o'], [w/'uci']), 2, ['uci', 'no classifier.json']),
    ('ecg-classify-broken-model-json', 'ECG records', lambda w, t: (t.joinpath('m').mkdir() or t.joinpath('m', 'classifier.json').write_text('{oops'), ['ecg', 'classify', '--model', t/'m', w/'uci', t/'o'])[1:] + ([t/'m'],), 2, ['classifier.json', 'not valid JSON']),
    ('ecg-classify-bad-record', 'ECG records', _china(_china_mat('TRAIN101.mat', data=np.full((12, 5000), np.nan)), cmd='classify'), 2, ['TRAIN101.mat']),
    ('ecg-train-over-a-foreign-folder', 'ECG records', _not_model, 2, ['mine', 'not a bpnb ECG model folder']),
    ('ecg-score-missing-output', 'ECG records', _ecg_score(lambda o: (o/'TRAIN401.csv').unlink()), 2, ['TRAIN401.csv']),
    ('ecg-score-malformed-output', 'ECG records', _ecg_score(lambda o: (o/'TRAIN401.csv').write_text('#TRAIN401\n0,1\nyes,no\n0.5,0.5\n')), 2, ['TRAIN401.csv']),
    ('ecg-score-no-labels', 'ECG records', lambda w, t: (['ecg', 'score', w/'uci', t], [w/'uci']), 2, ['neither reference.txt']),
    # PPG to any target (bpnb regress)
    ('regress-unknown-target', 'CLI arguments', lambda w, t: (['regress', '--source', 'uci', '--data', w/'uci', '--target', 'TPP', '--out', t/'r'], [w/'uci']), 2, ['TPP cannot be computed from the ABP', 'targets table']),
    ('regress-synthetic-without-folder', 'CLI arguments', lambda w, t: (['regress', '--source', 'synthetic', '--out', t/'r'], []), 2, ["source 'synthetic' needs its folder"]),
    ('regress-targets-csv-missing-column', 'CLI arguments', lambda w, t: ((t/'u.csv').write_text('record,begin,TPP\nrec_1,0,50\n'), ['regress', '--source', 'uci', '--data', w/'uci', '--targets-csv', t/'u.csv', '--target', 'TPP', '--out', t/'r'])[1:] + ([w/'uci'],), 2, ['u.csv', 'start']),
    # profiles: refused before any stage runs
    ('profile-missing', 'profiles', lambda w, t: (['paper', '--profile', 'nosuch'], []), 2, ["profile 'nosuch' not found", 'available']),
    ('profile-invalid-yaml', 'profiles', _profile('stages: [1, 2\n'), 2, ['my.yaml', 'not valid YAML at line 2']),
    ('profile-empty', 'profiles', _profile('# to do\n'), 2, ['my.yaml', 'the profile is empty']),
    ('profile-a-list', 'profiles', _profile('- quick\n- smoke\n'), 2, ['my.yaml', 'must be a mapping']),
    ('profile-stages-a-list', 'profiles', _profile('extends: quick\nstages: [21_train]\n'), 2, ['my.yaml', '`stages` must map stage names']),
    ('profile-extends-missing', 'profiles', _profile('extends: nosuch\n'), 2, ["profile 'nosuch' not found"]),
    ('profile-wrong-type', 'profiles', _profile('extends: quick\nstages:\n  21_train: {epochs: two}\n'), 2, ['21_train.ipynb: parameter epochs must be int', "'two'"]),
    ('profile-bad-grid', 'profiles', _profile('extends: quick\nstages:\n  21_train: {grid: {arch: resnet}}\n'), 2, ['stages.21_train.grid must map parameter names to lists']),
    ('profile-bad-chapter', 'profiles', _profile('extends: quick\nchapters: [11_signals, 98_nothing]\n'), 2, ['no library notebook 98_nothing']),
    ('profile-elsewhere-extends-quick', 'profiles', _profile('extends: quick\n', extra=['--stage', '77']), 2, ['no stage named 77']),   # the profile itself loads
]


@pytest.mark.parametrize('case', CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, world, tmp_path):
    name, category, setup, code, words = case
    argv, protected = setup(world, tmp_path)
    before = digest(*protected, world/'ds.h5', world/'win')
    try: rc, out, err = run(*argv)
    finally:
        while _RESTORE: _RESTORE.pop()()
    assert rc == code, f'{name}: exit {rc}, expected {code}\nstdout: {out[-2000:]}\nstderr: {err[-2000:]}'
    msg = err.strip().splitlines()[-1] if err.strip() else ''
    for w in words: assert w in err, f'{name}: {w!r} not in the message:\n{err[-2000:]}'
    assert 'Traceback' not in err, f'{name}: a traceback:\n{err[-3000:]}'
    assert msg.startswith(('bpnb', 'usage')) or 'error' in msg, f'{name}: the last line is not the error:\n{err[-1500:]}'
    assert digest(*protected, world/'ds.h5', world/'win') == before, f'{name}: changed what was written before'
    assert not list(tmp_path.rglob('.*.tmp')), f'{name}: temporary files left'


def test_the_suite_covers_every_category():
    cats = {}
    for c in CASES: cats[c[1]] = cats.get(c[1], 0) + 1
    assert len(CASES) >= 60 and set(cats) >= {'WFDB records', 'UCI files', 'PPG-BP tables', 'HDF5 datasets', 'CLI arguments', 'profiles', 'interrupted runs', 'ECG records'}, cats


def test_corrupt_window_file_is_fetched_again(world, tmp_path):
    out = copy(world, tmp_path, 'win'); f = sorted(out.glob('*/*.npz'))[0]
    good = f.read_bytes(); f.write_bytes(good[:100])                                # cut short; its log row says ok
    log = out/'download_log.csv'; rows = log.read_text().splitlines(keepends=True)
    log.write_text(''.join(r for r in rows if not r.startswith(f'{f.parent.name}/{f.stem},')))   # as if the run died before logging it
    with pytest.warns(UserWarning, match='unreadable window file'):
        rc, _, err = run('download', 'mimic3', '--mirror', world/'cohort', '--output', out, '--workers', 0)
    assert rc == 0 and f.read_bytes() == good


def _kill_and_resume(argv, out_of, tmp_path, wait_for):
    "Start `bpnb ARGV`, kill -9 it once `wait_for()` is true, then run it again to the end; return the second run."
    p = subprocess.Popen([*BPNB, *map(str, argv)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.time()
    while not wait_for() and p.poll() is None and time.time() - t0 < 120: time.sleep(0.05)
    assert p.poll() is None, f'bpnb {argv[0]} ended (exit {p.returncode}) before it could be killed half-way'
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    return subprocess.run([*BPNB, *map(str, argv)], cwd=ROOT, capture_output=True, text=True)


def test_killed_download_resumes_to_the_same_windows(world, tmp_path):
    cohort = write_cohort(tmp_path/'c', subjects=40, minutes=2, seed=4, progress=False)
    ref = tmp_path/'ref'; download_mimic3(cohort/'ppg_abp_segments.txt', ref, mirror=cohort, workers=0, progress=False)
    out = tmp_path/'out'
    r = _kill_and_resume(['download', 'mimic3', '--mirror', cohort, '--output', out, '--workers', 1], out, tmp_path,
                         lambda: len(list(out.glob('*/*.npz'))) >= 2)
    assert r.returncode == 0, r.stderr[-2000:]
    files = sorted(f.relative_to(ref) for f in ref.glob('*/*.npz'))
    assert files == sorted(f.relative_to(out) for f in out.glob('*/*.npz'))
    for f in files:
        with np.load(ref/f) as a, np.load(out/f) as b:
            assert all(np.array_equal(a[k], b[k]) for k in ('ppg', 'label', 'start'))
    assert not list(tmp_path.rglob('.*.tmp')) and not list(tmp_path.glob('.*.lock'))   # a killed run's leftovers are cleaned


def test_killed_prepare_resumes_to_the_same_dataset(world, tmp_path):
    import h5py
    out = tmp_path/'ds.h5'
    r = _kill_and_resume(['prepare', 'uci', '--input', world/'uci', '--output', out, '--min-windows', 0], out, tmp_path,
                         lambda: (tmp_path/'.ds.h5.stage').exists())
    assert r.returncode == 0, r.stderr[-2000:]
    ref = prepare('uci', world/'uci', tmp_path/'ref.h5', min_windows=0, progress=False)
    with h5py.File(out) as a, h5py.File(ref) as b:
        for k in ('ppg', 'label', 'subject_idx', 'start'): assert np.array_equal(a[k][:], b[k][:]), k
    assert not list(tmp_path.glob('.*')), list(tmp_path.glob('.*'))       # no stage, lock or temporary file left


def test_killed_download_leaves_no_orphan_workers(tmp_path):
    import psutil
    cohort = write_cohort(tmp_path/'c', subjects=40, minutes=2, seed=5, progress=False)
    out = tmp_path/'out'
    p = subprocess.Popen([*BPNB, 'download', 'mimic3', '--mirror', str(cohort), '--output', str(out), '--workers', '2'],
                         cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while len(list(out.glob('*/*.npz'))) < 2 and p.poll() is None and time.time() - t0 < 120: time.sleep(0.05)
    workers = psutil.Process(p.pid).children(recursive=True)
    assert p.poll() is None and workers, 'the download ended before it could be killed half-way'
    os.kill(p.pid, signal.SIGKILL); p.wait()                            # the parent only, as the OOM killer would
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f'orphaned pool workers: {alive}'

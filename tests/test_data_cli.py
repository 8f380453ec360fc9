"""The data commands end to end: synth -> download (from the cohort as a mirror) -> prepare -> split."""
import json
import h5py, numpy as np
from conftest import bpnb


def test_synth_download_prepare_split(tmp_path):
    cohort, win, h5, sp = tmp_path/'cohort', tmp_path/'windows', tmp_path/'ds.h5', tmp_path/'split'
    bpnb('synth', '--subjects', 5, '--minutes', 3, '--output', cohort, check=0)
    assert json.loads((cohort/'bpnb_source.json').read_text())['synthetic'] is True
    r = bpnb('download', 'mimic3', '--mirror', cohort, '--output', win, '--workers', 1, check=0)
    assert 'ok' in r.stdout and (win/'download_log.csv').is_file()
    # a second download reads nothing again
    again = bpnb('download', 'mimic3', '--mirror', cohort, '--output', win, '--workers', 1, check=0)
    assert again.stdout.strip().splitlines()[-1] == r.stdout.strip().splitlines()[-1]
    bpnb('prepare', 'mimic3', '--input', win, '--output', h5, '--min-windows', 10, check=0)
    with h5py.File(h5) as f:
        n, L = f['ppg'].shape
        assert L == 875 and f['label'].shape == (n, 2) and f['subject_idx'].shape == (n, 1)
        assert 'SYNTHETIC' in f.attrs['data_source']
        subj = f['subject_idx'][:, 0]
    bpnb('split', h5, '--mode', 'subject', '--output', sp, check=0)
    parts = [set(subj[np.load(sp/f'{k}_idx.npy')]) for k in ('train', 'val', 'test')]
    assert all(parts) and not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    r = bpnb('split', h5, '--output', tmp_path/'x', '--n-windows', 10**6, 1, 1, check=2)
    assert "split 'train': asked for 1,000,000 windows" in r.stderr


def test_data_command_errors(tmp_path):
    r = bpnb('download', 'mimic3', '--output', tmp_path/'o', check=2)
    assert 'give --records FILE' in r.stderr
    r = bpnb('download', 'mimic3', '--mirror', tmp_path, '--output', tmp_path/'o', check=2)
    assert 'neither a mimic3wdb-layout mirror' in r.stderr
    r = bpnb('prepare', 'uci', '--input', tmp_path/'missing', '--output', tmp_path/'u.h5', check=2)
    assert 'does not exist' in r.stderr

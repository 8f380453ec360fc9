"""Run folders from the command line: two runs whose folders share a name keep both models."""
import json, shutil
from pathlib import Path
from conftest import bpnb, ROOT


def test_two_runs_with_the_same_folder_name_keep_both_models(tmp_path):
    bpnb('synth', '--subjects', 6, '--minutes', 4, '--seed', 5, '--output', tmp_path/'cohort', check=0)
    recs = []
    for parent in ('a', 'b'):
        bpnb('train', '--arch', 'slapnicar', '--epochs', 1, '--max-windows', 32, '--data', tmp_path/'cohort',
             '--out', tmp_path/parent/'x', check=0)
        recs.append(json.loads((tmp_path/parent/'x'/'train_slapnicar.json').read_text()))
    try:
        a, b = (Path(r['model']) for r in recs)
        assert a != b and a.is_file() and b.is_file()           # the second run did not overwrite the first
        assert a.read_bytes() != b'' and recs[0]['run'] == recs[1]['run'] == 'x'
        # each record points at its own run's files
        assert Path(recs[0]['predictions']).parent == a.parent and Path(recs[1]['predictions']).parent == b.parent
    finally:
        for r in recs: shutil.rmtree(Path(r['model']).parent, ignore_errors=True)

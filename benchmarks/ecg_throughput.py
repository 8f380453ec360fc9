"""ECG chapters on CPU: records per second to read and classify (load + inference) with each classifier of
`bpnb.ecg.train`, and the time the ECG profile's stages took (from a run folder's `stages.json`).

Run from the project root, on the real shared records ($BPNB_SHARED or ../shared/data):

    .venv/bin/python benchmarks/ecg_throughput.py [--repeat 3] [--run runs/<id of a make paper PROFILE=ecg run>]

Classifiers are fitted once on the 120 China 2019 records (the networks for 2 epochs: their speed, not their
accuracy, is measured here). Prints a table and writes benchmarks/results/ecg_throughput.json and .md and a
bar chart (.png). This is a benchmark, not a test.
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import argparse, json, platform, time, warnings
from pathlib import Path
import numpy as np, pandas as pd

from bpnb.config import shared_data, project_root
from bpnb.ecg.china import read_folder
from bpnb.ecg.train import ECGClassifier, DEFAULT_LEADS, read_task


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--repeat', type=int, default=3, help='timed repetitions (the best is kept)')
    ap.add_argument('--run', default=None, help='an ECG run folder whose stage times to report')
    a = ap.parse_args()
    cdir = shared_data('china_ecg_2019_prelim'); out = project_root()/'benchmarks'/'results'; out.mkdir(exist_ok=True)
    rows = []
    t0 = time.perf_counter(); _, y, tab = read_folder(cdir, leads='raw'); t_read = time.perf_counter() - t0
    rows.append(dict(step='read China 2019 (.mat, layout check)', classifier='', records=len(y), seconds=t_read))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        t0 = time.perf_counter(); Xc, Yc, _ = read_task('cinc2020', shared_data('physionet2020_subset')); t_c = time.perf_counter() - t0
    rows.append(dict(step='read PhysioNet/CinC 2020 (.hea + .mat, resample, crop)', classifier='', records=len(Yc), seconds=t_c))
    for arch in ('majority', 'features', 'tutorial', 'resnet'):
        lead = DEFAULT_LEADS[arch]
        X = read_folder(cdir, leads=lead)[0]
        hp = dict(epochs=2) if arch in ('tutorial', 'resnet') else dict(n_trees=1000) if arch == 'features' else {}
        t0 = time.perf_counter(); clf = ECGClassifier('china', arch, seed=0, **hp).fit(X, y); t_fit = time.perf_counter() - t0
        clf.predict_proba(X[:8])                                            # warm-up (graph tracing)
        best = np.inf
        for _ in range(a.repeat):
            t0 = time.perf_counter(); Xr = read_folder(cdir, leads=lead)[0]; clf.predict_proba(Xr); best = min(best, time.perf_counter() - t0)
        rows.append(dict(step='read + classify', classifier=arch, records=len(y), seconds=best))
        if arch != 'majority': rows.append(dict(step='fit on all records' + (' (2 epochs)' if 'epochs' in hp else ''), classifier=arch, records=len(y), seconds=t_fit))
    df = pd.DataFrame(rows).assign(records_per_s=lambda d: d.records/d.seconds)
    stages = None
    if a.run:
        st = json.loads((Path(a.run)/'stages.json').read_text())
        stages = {k: v.get('seconds') for k, v in st.items()}
    env = dict(host=platform.node(), cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), python=platform.python_version())
    print(df.round(3).to_string(index=False))
    if stages: print('stage seconds of', a.run, stages)
    (out/'ecg_throughput.json').write_text(json.dumps(dict(env=env, rows=df.to_dict('records'), stages=stages, run=a.run), indent=1))
    (out/'ecg_throughput.md').write_text(f"# ECG throughput on CPU ({env['cores']} cores, {env['host']})\n\n" + df.round(3).to_markdown(index=False)
                                         + (f"\n\nStage seconds of `{a.run}`: {stages}\n" if stages else '\n'))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    inf = df[df.step == 'read + classify']
    fig, ax = plt.subplots(figsize=(6, 2.8))
    ax.barh(inf.classifier, inf.records_per_s, color='C0'); ax.set_xlabel('records per second (read + classify, 10 s, 12 leads)')
    for i, v in enumerate(inf.records_per_s): ax.text(v, i, f' {v:.0f}', va='center', fontsize=8)
    ax.set_title(f"China 2019, 120 REAL records, CPU ({env['cores']} cores)", fontsize=9); fig.tight_layout()
    fig.savefig(out/'ecg_throughput.png', dpi=120)


if __name__ == '__main__': main()

"""Input-pipeline throughput against what the networks consume in training (paper section 3.5: batch 32).

Measures, on this machine (all cores, as in training):
- writing: `bpnb.dataset.write_dataset` (HDF5, gzip+shuffle), windows/s;
- reading one shuffled training epoch, batch 32: `bpnb.inputs.h5_dataset` in memory and streamed from the file
  in blocks, windows/s (the authors' TFRecord shards are gone: no stage used them);
- what each network of `bpnb.models` consumes in training (Adam, MSE on SBP and DBP, batch 32), windows/s,
  from `train_on_batch` on a batch already in memory;
- end to end (for `--fit-archs`, default the smallest network, Slapnicar): `model.fit` fed by each pipeline against
  a pre-built in-memory batch, steady state (epochs of `--steps` steps after an untimed first one, one iterator);
  if the pipeline were the bottleneck, fit would be slower with it.

The windows are REAL: the UCI cuff-less BP records (`$BPNB_SHARED/uci_cuffless_bp_subset`) prepared with
`bpnb.dataset.prepare('uci', ...)`, then repeated (as pseudo-subjects) to `--windows` windows so that the file
is bigger than a few shards; content and compression are those of real z-scored PPG.

Run from the project root:

    .venv/bin/python benchmarks/input_pipeline.py [--windows 40000] [--archs alexnet resnet slapnicar lstm]
        [--fit-archs slapnicar] [--steps 8] [--rounds 3]

Prints a table and writes benchmarks/results/input_pipeline.json and .md. This is a benchmark, not a test.
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
import argparse, json, platform, shutil, tempfile, time
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import h5py

from bpnb.config import shared_data, project_root, ARCHS
from bpnb.dataset import prepare, write_dataset, split, dataset_info
from bpnb.inputs import h5_dataset

BATCH = 32


def real_windows(work):
    "Prepare the UCI records (all subjects kept) and return the file's windows and labels."
    h5 = prepare('uci', shared_data('uci_cuffless_bp_subset'), work/'uci.h5', min_windows=0, progress=False)
    with h5py.File(h5) as f: return f['ppg'][:], f['label'][:], dataset_info(h5)['data_source']


def tiled_records(X, Y, n, per_subject=500):
    "Records of `per_subject` windows each, cycling through the real windows, until `n` windows."
    for s, i in enumerate(range(0, n, per_subject)):
        j = (np.arange(i, min(i + per_subject, n))) % len(X)
        yield SimpleNamespace(subject=f'pseudo{s:03d}', record=f'pseudo{s:03d}', ppg=X[j], label=Y[j],
                              start=np.arange(len(j), dtype=np.int64)*437, rejected={}, n_total=len(j))


def epoch_rate(ds, epochs=2):
    "Windows per second of each full pass over `ds` (the first pass includes the pipeline's start-up)."
    rates = []
    for _ in range(epochs):
        t, n = time.perf_counter(), 0
        for x, y in ds: n += int(x.shape[0])
        rates.append(n / (time.perf_counter() - t))
    return rates, n


def model_rates(archs, fit_archs, steps, rounds, L, pipes):
    "Training consumption of each network (train_on_batch); for `fit_archs` also fit() fed by each pipeline."
    import keras, tensorflow as tf
    from bpnb.models import build_model
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, L, 1)).astype('f4')
    y = {'SBP': (120 + 15*rng.standard_normal((BATCH, 1))).astype('f4'), 'DBP': (70 + 8*rng.standard_normal((BATCH, 1))).astype('f4')}
    out = {}
    for a in archs:
        keras.utils.set_random_seed(0)
        m = build_model(a, input_len=L)
        m.compile(keras.optimizers.Adam(), loss='mse')
        m.train_on_batch(x, y); m.train_on_batch(x, y)              # build and warm up
        t = time.perf_counter()
        for _ in range(steps): m.train_on_batch(x, y)
        step = (time.perf_counter() - t) / steps
        r = out[a] = dict(params=int(m.count_params()), step_s=step, windows_per_s=BATCH/step)
        line = f"  {a:9s} {r['params']:>11,d} params  {r['windows_per_s']:8.1f} windows/s"
        if a in fit_archs:
            inputs = [('in-memory batch', tf.data.Dataset.from_tensors((x, y)).repeat())] + [(k, v.repeat()) for k, v in pipes.items()]
            fits = {}
            for k, ds in inputs:            # one fit per input; its first epoch (tracing, buffers filling) is not timed
                times = []
                cb = keras.callbacks.LambdaCallback(on_epoch_begin=lambda e, l: times.append(time.perf_counter()),
                                                    on_epoch_end=lambda e, l: times.append(time.perf_counter()))
                m.fit(ds, steps_per_epoch=steps, epochs=1 + rounds, verbose=0, callbacks=[cb])
                fits[k] = [BATCH*steps / (t1 - t0) for t0, t1 in zip(times[2::2], times[3::2])]
            r['fit_windows_per_s'] = {k: float(np.median(v)) for k, v in fits.items()}
            line += '  fit (median of %d epochs): ' % rounds + ', '.join(f'{k} {v:.1f}' for k, v in r['fit_windows_per_s'].items())
        print(line, flush=True)
        del m; keras.backend.clear_session()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--windows', type=int, default=40_000, help='windows in the benchmark dataset')
    ap.add_argument('--archs', nargs='+', default=list(ARCHS))
    ap.add_argument('--steps', type=int, default=8, help='timed training steps per network (and per fit)')
    ap.add_argument('--fit-archs', nargs='*', default=['slapnicar'], help='networks also timed in fit() fed by each pipeline')
    ap.add_argument('--rounds', type=int, default=3, help='timed epochs of `--steps` steps per fit after an untimed first epoch (median)')
    ap.add_argument('--out', default=str(project_root()/'benchmarks'/'results'))
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix='bpnb-bench-pipe-'))
    try: run(a, work)
    finally: shutil.rmtree(work, ignore_errors=True)


def run(a, work):
    import tensorflow as tf, keras
    X, Y, src = real_windows(work)
    L = X.shape[1]
    print(f"real windows: {len(X)} from {src}; benchmark dataset: {a.windows:,} windows of {L} samples")
    res = dict(host=dict(platform=platform.platform(), cpus=os.cpu_count(), load_average_at_start=os.getloadavg()[0]), tensorflow=tf.__version__, keras=keras.__version__,
               data=f"{src}: {len(X)} real windows repeated to {a.windows:,} (pseudo-subjects of 500 windows)",
               batch=BATCH, windows=a.windows, window_len=L)

    t = time.perf_counter()
    h5 = write_dataset(tiled_records(X, Y, a.windows), work/'bench.h5', source='uci', input=shared_data('uci_cuffless_bp_subset'),
                       min_windows=0, progress=False)
    res['write_h5_windows_per_s'] = a.windows / (time.perf_counter() - t)
    res['h5_bytes_per_window'] = h5.stat().st_size / a.windows
    sp = split(h5, 'subject', output=work/'split')
    n_train = len(sp['train'])
    print(f"write: HDF5 {res['write_h5_windows_per_s']:,.0f} windows/s ({res['h5_bytes_per_window']:.0f} B/window); "
          f"train split {n_train:,} windows")

    pipes = {'HDF5 in memory': h5_dataset(h5, sp['train'], BATCH, shuffle=True, in_memory=True),
             'HDF5 streamed': h5_dataset(h5, sp['train'], BATCH, shuffle=True, in_memory=False)}
    res['read_windows_per_s'] = {}
    for k, ds in pipes.items():
        rates, n = epoch_rate(ds)
        assert n == n_train, (k, n, n_train)
        res['read_windows_per_s'][k] = dict(first_epoch=rates[0], second_epoch=rates[1])
        print(f"read {k:15s}: epoch 1 {rates[0]:9,.0f} windows/s, epoch 2 {rates[1]:9,.0f} windows/s")

    print("training consumption (batch 32, Adam, MSE):")
    res['models'] = model_rates(a.archs, a.fit_archs, a.steps, a.rounds, L, pipes)
    slowest_pipe = min(min(v.values()) for v in res['read_windows_per_s'].values())
    fastest_model = max(v['windows_per_s'] for v in res['models'].values())
    res['headroom'] = slowest_pipe / fastest_model
    print(f"slowest pipeline {slowest_pipe:,.0f} windows/s vs hungriest network {fastest_model:,.1f} windows/s: "
          f"{res['headroom']:,.0f}x headroom")

    res['host']['load_average_at_end'] = os.getloadavg()[0]
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    (out/'input_pipeline.json').write_text(json.dumps(res, indent=1) + '\n')
    md = [f"# Input pipelines vs training ({res['data']})", '',
          f"{res['host']['platform']}, {res['host']['cpus']} CPU cores, TensorFlow {res['tensorflow']}, Keras {res['keras']}; "
          f"batch {BATCH}, windows of {L} samples, shuffled training epoch of {n_train:,} windows. "
          f"1-min load average {res['host']['load_average_at_start']:.1f} at start, {res['host']['load_average_at_end']:.1f} at end "
          f"(above {res['host']['cpus']} means other processes shared the CPU and the training numbers are low and noisy).", '',
          '| step | windows/s |', '|---|---:|',
          f"| write HDF5 (`write_dataset`, gzip+shuffle, {res['h5_bytes_per_window']:.0f} B/window) | {res['write_h5_windows_per_s']:,.0f} |"]
    md += [f"| read {k}, epoch 1 / epoch 2 | {v['first_epoch']:,.0f} / {v['second_epoch']:,.0f} |" for k, v in res['read_windows_per_s'].items()]
    md += ['', '| network | parameters | training windows/s (train_on_batch, batch in memory) |', '|---|---:|---:|']
    md += [f"| {k} | {v['params']:,} | {v['windows_per_s']:.1f} |" for k, v in res['models'].items()]
    for k, v in res['models'].items():
        if 'fit_windows_per_s' in v:
            md += ['', f"`model.fit` of {k} fed by each input: median of {a.rounds} epochs of {a.steps} steps, after an untimed first epoch:", '',
                   '| input | windows/s |', '|---|---:|'] + [f"| {p} | {w:.1f} |" for p, w in v['fit_windows_per_s'].items()]
    md += ['', f"Slowest pipeline / hungriest network: **{res['headroom']:,.0f}x**: the input pipeline is not the bottleneck."
           if res['headroom'] > 1 else f"Slowest pipeline / hungriest network: **{res['headroom']:.2f}x**: THE PIPELINE IS A BOTTLENECK.", '']
    (out/'input_pipeline.md').write_text('\n'.join(md))
    print(f"wrote {out/'input_pipeline.json'} and {out/'input_pipeline.md'}")


if __name__ == '__main__':
    main()

"""Training throughput of the four networks on this machine's CPU, through the real training path: `bpnb.train`'s
compile settings (Adam, MSE per head, MAE metrics) and `model.fit` on the HDF5 input pipeline
(`bpnb.dataset.h5_dataset`, shuffled, batch 32), timed per step after a warm-up, and the fraction of the
machine's measured dense float32 matmul rate it achieves.

This extends `benchmarks/model_card.py`, which times `train_on_batch` on one fixed random batch: the FLOP
count (analytic, per layer; training = 3 x forward) and the matmul measurement are imported from
there, and the model card's `train_on_batch` rate (from `results/model_card.json`, if present) is shown beside
the `fit` rate, so the cost of the input pipeline and of Keras' fit loop is visible.

Run from the project root (uses every core TensorFlow sees; a small SYNTHETIC dataset is generated in a
temporary folder, nothing is downloaded):

    .venv/bin/python benchmarks/training_throughput.py [--archs alexnet resnet ...] [--steps 20] [--warmup 3] [--no-xla]

Each network is timed twice: as `bpnb.train` compiles it, and with XLA (`jit_compile=True`), which changes how
TensorFlow executes the same computation, not the method.

Prints a table and writes benchmarks/results/training_throughput.json and training_throughput.md.
A benchmark, not a test.
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse, json, platform, statistics, sys, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import numpy as np
import tensorflow as tf
import keras

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_card import analytic_flops, matmul_peak, save_results  # the model card's FLOP count and matmul peak: one definition
from bpnb.config import ARCHS, set_seed
from bpnb.dataset import load_split
from bpnb.inputs import h5_dataset
from bpnb.train import make_model

RESULTS = Path(__file__).resolve().parent/'results'


class StepTimer(keras.callbacks.Callback):
    "Wall time of every training step (batch end to batch end)."
    def on_train_begin(self, logs=None): self.times, self.t = [], None
    def on_train_batch_begin(self, batch, logs=None):
        if self.t is None: self.t = time.perf_counter()
    def on_train_batch_end(self, batch, logs=None):
        t = time.perf_counter(); self.times.append(t - self.t); self.t = t


def dataset(tmp: Path, subjects: int, minutes: float, split_mode: str = 'sample'):
    "A SYNTHETIC dataset (HDF5 + split) made with the project's own data pipeline."
    from bpnb.synthetic import write_cohort
    from bpnb.mimicb import make_dataset
    cohort = write_cohort(tmp/'cohort', subjects=subjects, minutes=minutes, seed=42, progress=False)
    d = make_dataset(cohort, tmp/'ds', min_windows=20, split_mode=split_mode, progress=False)
    return d['h5'], load_split(d['split'])


def compiled(arch, xla=False, input_len=875):
    """The network compiled as `bpnb.train` compiles it, or with XLA. bpnb seeds TensorFlow with deterministic kernels,
    and Keras then silently refuses `jit_compile=True`; the XLA variant therefore runs without them, as `bpnb.train`
    does for its XLA trainings (`xla_kernels`), and fails if Keras still did not take XLA."""
    from tensorflow.python.framework import config as tf_config
    set_seed(42, deterministic=not xla)
    if xla: tf_config.disable_op_determinism()
    m = make_model(arch, input_len)
    m.compile(keras.optimizers.Adam(1e-3), loss={'SBP': 'mse', 'DBP': 'mse'}, metrics={'SBP': ['mae'], 'DBP': ['mae']},
              jit_compile=xla)
    if bool(m.jit_compile) != xla: raise RuntimeError(f'{arch}: Keras did not take jit_compile={xla}')
    return m


def windows(tmp: Path, need: int):
    "The HDF5 file and the sorted indices of at least `need` SYNTHETIC windows (all parts of the split) in `tmp`."
    minutes = max(4., 1.4*need/12/(60/3.5))    # 12 subjects, a 7-s window every 3.5 s, some rejected
    h5, sp = dataset(tmp, 12, minutes)
    idx = np.sort(np.concatenate([sp['train'], sp['val'], sp['test']]))
    if len(idx) < need: raise SystemExit(f'only {len(idx)} windows for {need} needed; lower --steps')
    print(f'dataset: {len(idx)} SYNTHETIC windows', flush=True)
    return h5, idx


def environment() -> dict:
    "The machine, the load and the versions a benchmark ran with."
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    return dict(date=datetime.now(timezone.utc).isoformat(timespec='seconds'), cpu=cpu, cores=os.cpu_count(),
                loadavg=' '.join(f'{v:.2f}' for v in os.getloadavg()), python=platform.python_version(),
                tensorflow=tf.__version__, keras=keras.__version__)


def measure(arch, h5, idx, args, card, xla=False):
    m = compiled(arch, xla, args.input_len)
    n = (args.warmup + args.steps)*args.batch
    ds = h5_dataset(h5, idx[:n], batch_size=args.batch, shuffle=True, seed=42)
    timer = StepTimer()
    t0 = time.perf_counter()
    m.fit(ds, epochs=1, verbose=0, callbacks=[timer])
    wall = time.perf_counter() - t0
    steps = timer.times[args.warmup:]               # the first steps include tracing and compilation
    step_s = statistics.median(steps)
    flops = analytic_flops(m)
    r = dict(network=arch, xla=xla, params=m.count_params(), flops_per_window=flops, batch=args.batch, timed_steps=len(steps),
             first_step_s=timer.times[0], median_step_s=step_s, fit_windows_per_s=args.batch/step_s,
             mean_windows_per_s=args.batch*len(steps)/sum(steps), fit_wall_s=wall)
    r['train_flops_per_s'] = 3*flops*r['fit_windows_per_s']
    c = next((c for c in card.get('networks', []) if c['network'] == arch), None) if card.get('input_len') == args.input_len else None
    r['model_card_train_on_batch_windows_per_s'] = c['train_windows_per_s'] if c else None
    r['paper_epoch_h'] = 1_000_000/r['fit_windows_per_s']/3600      # one epoch of MIMIC-B's 1,000,000 windows
    print('  ' + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in r.items()), flush=True)
    return r


def markdown(res) -> str:
    env = res['environment']
    out = ['# Training throughput on this machine\'s CPU (model.fit on the HDF5 pipeline)', '',
           f"{env['date']} · {env['cpu']} · {env['cores']} cores · TensorFlow {env['tensorflow']}, Keras {env['keras']} · "
           f"input {res['input_len']} x 1 · batch {res['batch']} · load average before the run {env['loadavg']} · SYNTHETIC windows", '',
           f"Measured dense float32 matmul (TensorFlow): **{res['matmul_gflops']:.1f} GFLOP/s** (the higher of "
           f"{' and '.join(f'{g:.1f}' for g in res['matmul_gflops_runs'])}, before and after; the model card measured "
           f"{res['model_card_matmul_gflops'] or float('nan'):.1f}). Load average after the run: {env['loadavg_after']}.", '',
           '| network | XLA | parameters | MFLOPs/window | first step (s) | median step (s) | windows/s (fit) | windows/s (train_on_batch, model card) '
           '| train GFLOP/s | % of matmul peak | one paper epoch (1 M windows), h |',
           '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in res['networks']:
        tob = f"{r['model_card_train_on_batch_windows_per_s']:.1f}" if r['model_card_train_on_batch_windows_per_s'] else 'n/a'
        out.append(f"| {r['network']} | {'yes' if r['xla'] else 'no'} | {r['params']:,} | {r['flops_per_window']/1e6:,.1f} | {r['first_step_s']:.1f} | {r['median_step_s']:.3f} "
                   f"| {r['fit_windows_per_s']:.1f} | {tob} | {r['train_flops_per_s']/1e9:.1f} | {100*r['fraction_of_matmul_peak']:.1f} "
                   f"| {r['paper_epoch_h']:.1f} |")
    out += ['', res['method'], '']
    return '\n'.join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--archs', nargs='*', default=list(ARCHS), help=f'networks (default: all of {ARCHS})')
    p.add_argument('--steps', type=int, default=20, help='timed training steps per network (median reported)')
    p.add_argument('--warmup', type=int, default=3, help='steps not timed (tracing, first allocations)')
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--input-len', type=int, default=875, help='window length; 875 = 7 s at 125 Hz (the dataset is made with it)')
    p.add_argument('--matmul-n', type=int, default=4096)
    p.add_argument('--no-xla', action='store_true', help='skip the XLA (jit_compile=True) timing')
    p.add_argument('--out', type=Path, default=RESULTS/'training_throughput')
    args = p.parse_args()
    if args.input_len != 875: p.error('--input-len: only 875 (7-s windows) is supported; the synthetic dataset is cut at 7 s')
    peaks = [matmul_peak(args.matmul_n)]
    print(f'dense float32 matmul: {peaks[0]/1e9:.1f} GFLOP/s', flush=True)
    card_f = RESULTS/'model_card.json'
    card = json.loads(card_f.read_text()) if card_f.is_file() else {}
    env, need = environment(), (args.warmup + args.steps)*args.batch
    with tempfile.TemporaryDirectory() as tmp:
        h5, idx = windows(Path(tmp), need)
        rows = []
        for a in args.archs:
            for xla in (False,) if args.no_xla else (False, True):
                print(f'{a}{" (XLA)" if xla else ""}:', flush=True)
                try: rows.append(measure(a, h5, idx, args, card, xla))
                except Exception as e:   # XLA may not compile every layer (kapre's STFT, cuDNN-less RNNs): say so, keep going
                    print(f'  failed: {type(e).__name__}: {str(e)[:300]}', flush=True)
    # the matmul rate is measured before and after the networks and the higher one is taken as the machine's
    # rate: on a shared machine a measurement taken while other jobs run understates it (and so overstates fractions)
    peaks.append(matmul_peak(args.matmul_n)); peak = max(peaks)
    print(f'dense float32 matmul after: {peaks[1]/1e9:.1f} GFLOP/s; using {peak/1e9:.1f}', flush=True)
    for r in rows: r['fraction_of_matmul_peak'] = r['train_flops_per_s']/peak
    env['loadavg_after'] = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    res = dict(environment=env, input_len=args.input_len, batch=args.batch, steps=args.steps, warmup=args.warmup,
               matmul_n=args.matmul_n, matmul_gflops=peak/1e9, matmul_gflops_runs=[p/1e9 for p in peaks],
               model_card_matmul_gflops=card.get('matmul_gflops'), networks=rows,
               method=(f'Each network as bpnb.train compiles it (XLA no) and with jit_compile=True (XLA yes). '
                       f'model.fit for one pass over {need} SYNTHETIC windows from the HDF5 file (bpnb.dataset.h5_dataset, shuffled), '
                       f'compiled as bpnb.train compiles (Adam, MSE on SBP and DBP, MAE metrics); each step timed from batch end '
                       f'to batch end, the first {args.warmup} steps (tracing) left out, median of {args.steps} steps reported. '
                       'Training FLOPs = 3 x forward FLOPs, forward FLOPs counted analytically as in model_card.py '
                       '(Conv1D, Dense, LSTM/GRU gates, STFT; element-wise ops excluded). Fraction = training FLOP/s over the '
                       'higher of two dense float32 matmul measurements (before and after). The train_on_batch column is the '
                       'model card\'s fixed-batch rate. On a shared machine other jobs slow both; compare load averages.'))
    save_results(res, args.out, markdown)


if __name__ == '__main__':
    main()

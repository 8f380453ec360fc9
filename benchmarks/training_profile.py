"""Where a training step's time goes: TensorFlow's profiler on `model.fit` steps of each network, every op's
self time put into a few categories (GEMM and convolution kernels, the optimizer's update, other element-wise
work and reductions, recurrent-loop bookkeeping, the input pipeline), and the rate the GEMM and convolution
kernels themselves reach against the machine's measured dense matmul rate.

`training_throughput.py` says how fast each network trains and what share of the matmul rate that is; this
script says why it is not more. Each network is compiled as `bpnb.train` compiles it (Adam, MSE on both heads,
MAE metrics) and fed from the HDF5 pipeline (`bpnb.inputs.h5_dataset`, batch 32) of a small SYNTHETIC dataset;
`--steps` steps are timed, then as many run under `tf.profiler` (after `--warmup` steps that are neither). The same
number of steps is then timed with XLA (`jit_compile=True`), which fuses element-wise work such as the optimizer's update without
changing the method; XLA runs as one op, so its time is not broken down. Keras silently refuses XLA while
TensorFlow's determinism flag is on: the XLA timing turns it off (`training_throughput.compiled`), as `bpnb.train`
does for the trainings it compiles with XLA (`bpnb.train.use_xla`).

Run from the project root (nothing is downloaded):

    .venv/bin/python benchmarks/training_profile.py [--archs alexnet lstm] [--steps 6] [--no-xla]

Prints a table and writes benchmarks/results/training_profile.json, .md and .png. A benchmark, not a test.

How time is counted: the profiler records every op on TensorFlow's inter-op threads (`tf_Compute`), with its
start and duration; an op's self time is its duration less that of the ops nested in it (a `While` op runs its
loop body inside itself). Self times are summed per op, so two ops running at once on the two inter-op threads
both count: the op time per step can exceed the step's wall time. The intra-op helper threads (Eigen) that
one kernel spreads its work over are not counted again. The step's wall time is shared among the categories in
proportion to their op time (ops running at once share the cores), and the GEMM rate is the analytic training
FLOPs of a step (3 x forward, `model_card.analytic_flops`: Conv1D, Dense, LSTM/GRU gates, STFT) over the GEMM and
convolution ops' share of the step's wall time: the rate those kernels reach while they run. Where TensorFlow runs
oneDNN's kernels (`_MklMatMul`, `_MklNativeConv2DBackpropInput`, ...: its default on CPUs it recognises), they are
counted as the ops they replace.
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse, collections, glob, shutil, sys, tempfile
from pathlib import Path
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_card import analytic_flops, matmul_peak, save_results
from training_throughput import StepTimer, compiled, environment, windows
from bpnb.config import ARCHS
from bpnb.inputs import h5_dataset

RESULTS = Path(__file__).resolve().parent/'results'

GEMM = {'MatMul', '_FusedMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Einsum', 'Conv2D', '_FusedConv2D',
        'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Conv3D', 'DepthwiseConv2dNative', 'RFFT', 'FFT'}
LOOP = {'While', 'StatelessWhile', 'TensorListReserve', 'TensorListFromTensor', 'TensorListStack', 'TensorListGetItem',
        'TensorListSetItem', 'TensorListPushBack', 'TensorListPopBack', 'TensorListElementShape', 'TensorListLength',
        'Less', 'LoopCond', 'Enter', 'Exit', 'Merge', 'Switch', 'NextIteration', 'Identity', 'StopGradient'}
CATEGORIES = ['GEMM & convolution', 'optimizer update', 'element-wise & reductions', 'recurrent loop', 'input pipeline']
SKIP = ('ThreadpoolListener', 'ExecutorState', 'ParallelFor')


def base_type(op_type: str) -> str:
    "The op type without the prefix of oneDNN's kernels, which TensorFlow uses on some CPUs (`_MklNativeConv2D` -> `Conv2D`)."
    for p in ('_MklNative', '_Mkl'):
        if op_type.startswith(p):
            t = op_type[len(p):]
            return '_' + t if t.startswith('Fused') else t
    return op_type


def category(name: str, op_type: str) -> str:
    "The category of one op, from its type and its name scope."
    op_type = base_type(op_type)
    if op_type.startswith(('Iterator', 'OptionalGetValue', 'OptionalHasValue')) or 'Dataset' in op_type: return 'input pipeline'
    if '/adam/' in name.lower() or op_type.startswith(('ResourceApply', 'Assign')): return 'optimizer update'
    if op_type in GEMM: return 'GEMM & convolution'
    if op_type in LOOP: return 'recurrent loop'
    return 'element-wise & reductions'


def op_self_times(logdir: Path) -> dict:
    "Self time (s) per (op type, category) summed over the op events on the inter-op threads of the trace in `logdir`."
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    paths = glob.glob(str(logdir/'**'/'*.xplane.pb'), recursive=True)
    if len(paths) != 1: raise RuntimeError(f'training_profile: expected one trace in {logdir}, found {len(paths)}')
    xs = xplane_pb2.XSpace(); xs.ParseFromString(Path(paths[0]).read_bytes())
    out = collections.Counter()
    for plane in xs.planes:
        md = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith('tf_Compute'): continue
            ev = []
            for e in line.events:
                name = md[e.metadata_id].name
                if name.startswith(SKIP) or ':' not in name: continue
                ev.append((e.offset_ps, e.offset_ps + e.duration_ps, name))
            ev.sort(key=lambda t: (t[0], -t[1]))
            stack = []          # [end, name, self time] of the ops that enclose the current one
            def close(item):
                _, name, own = item
                scope, op_type = name.rsplit(':', 1)
                out[(op_type, category(scope, op_type))] += own/1e12
            for s, t, name in ev:
                while stack and stack[-1][0] <= s: close(stack.pop())
                if stack: stack[-1][2] -= t - s          # a nested op's time is not its parent's own
                stack.append([t, name, t - s])
            while stack: close(stack.pop())
    return out


def steps_timed(m, ds, profile_to=None):
    "Seconds of each step of one `fit` epoch over `ds`, under the profiler if `profile_to` is a folder."
    timer = StepTimer()
    if profile_to: tf.profiler.experimental.start(str(profile_to))
    try: m.fit(ds, epochs=1, verbose=0, callbacks=[timer])
    finally:
        if profile_to: tf.profiler.experimental.stop()
    return timer.times


def profile(arch, h5, idx, args):
    "Profile `args.steps` training steps of `arch` as bpnb.train compiles it; time as many with XLA."
    m = compiled(arch)
    ds = lambda n, seed: h5_dataset(h5, idx[:n*args.batch], batch_size=args.batch, shuffle=True, seed=seed)
    m.fit(ds(args.warmup, 1), epochs=1, verbose=0)                  # tracing and first allocations, not profiled
    step_s = float(np.mean(steps_timed(m, ds(args.steps, 2))))      # steps only: the iterator's start and end are not a step
    logdir = Path(tempfile.mkdtemp(prefix=f'bpnb_profile_{arch}_'))
    try:
        times = steps_timed(m, ds(args.steps, 2), logdir)            # the same steps again, traced: the profiler slows
        ops = op_self_times(logdir)                                  # networks of many small ops (the LSTM: 1.8x), so it
    finally: shutil.rmtree(logdir, ignore_errors=True)               # gives the shares, the untraced run the time
    n, traced_s = len(times), float(np.mean(times))
    per_cat = {c: sum(v for (_, k), v in ops.items() if k == c)/n for c in CATEGORIES}
    op_s = sum(per_cat.values())
    train_flops = 3*analytic_flops(m)*args.batch
    gemm_s = per_cat['GEMM & convolution']
    r = dict(network=arch, steps=n, step_s=step_s, traced_step_s=traced_s, op_s_per_step=op_s,
             shares={c: v/op_s for c, v in per_cat.items()},
             train_gflop_per_step=train_flops/1e9, train_gflops=train_flops/step_s/1e9,
             gemm_gflops=train_flops/(gemm_s/op_s*step_s)/1e9 if gemm_s else None,
             top_ops=[dict(type=t, category=c, s_per_step=v/n) for v, t, c in sorted(((v, t, c) for (t, c), v in ops.items()), reverse=True)[:8]],
             xla_step_s=None, xla_error=None)
    print(f"  step {step_s:.2f} s ({traced_s:.2f} s traced), op time {op_s:.2f} s/step, " +
          ', '.join(f'{c} {100*s:.0f} %' for c, s in r['shares'].items() if s > 0.005) +
          (f"; GEMM kernels {r['gemm_gflops']:.0f} GFLOP/s" if gemm_s else ''), flush=True)
    if not args.no_xla:
        try:
            mx = compiled(arch, xla=True)
            mx.fit(ds(args.warmup, 1), epochs=1, verbose=0)            # XLA compiles here
            r['xla_step_s'] = float(np.mean(steps_timed(mx, ds(args.steps, 2))))
            print(f"  with XLA: step {r['xla_step_s']:.2f} s", flush=True)
        except Exception as e:       # XLA may not compile every layer: say so, keep going
            r['xla_error'] = f'{type(e).__name__}: {str(e)[:300]}'
            print(f'  with XLA: failed: {r["xla_error"]}', flush=True)
    return r


def markdown(res) -> str:
    env = res['environment']
    cats = [c for c in CATEGORIES if any(r['shares'][c] > 0.0005 for r in res['networks'])]
    pct = lambda v: 'n/a' if v is None else f'{100*v:.1f}'
    out = ['# Where a training step\'s time goes (TensorFlow profiler, this machine\'s CPU)', '',
           f"{env['date']} · {env['cpu']} · {env['cores']} cores · TensorFlow {env['tensorflow']}, Keras {env['keras']} · "
           f"batch {res['batch']} · {res['steps']} profiled steps after {res['warmup']} warm-up steps · load average "
           f"before {env['loadavg']}, after {env['loadavg_after']} · SYNTHETIC windows", '',
           f"Measured dense float32 matmul ({res['matmul_n']}^3): **{res['matmul_gflops']:.1f} GFLOP/s** (the higher of "
           f"{' and '.join(f'{g:.1f}' for g in res['matmul_gflops_runs'])}, before and after).", '',
           '| network | step (s) | step traced (s) | op time / step (s) | ' + ' | '.join(f'{c} (%)' for c in cats) +
           ' | train GFLOP/s | % of matmul rate | GEMM kernels alone, % of matmul rate | step with XLA (s) | % of matmul rate with XLA |',
           '|---|---:|---:|---:|' + '---:|'*len(cats) + '---:|---:|---:|---:|---:|']
    for r in res['networks']:
        xs = r['xla_step_s']
        out.append(f"| {r['network']} | {r['step_s']:.2f} | {r['traced_step_s']:.2f} | {r['op_s_per_step']:.2f} | " +
                   ' | '.join(f"{100*r['shares'][c]:.1f}" for c in cats) +
                   f" | {r['train_gflops']:.1f} | {pct(r['fraction_of_matmul_peak'])} | {pct(r['gemm_fraction_of_peak'])} | "
                   f"{'failed' if r['xla_error'] else 'n/a' if xs is None else f'{xs:.2f}'} | {pct(r['xla_fraction_of_matmul_peak'])} |")
    out += ['', '**The ops that take most of a step** (op self time per step, s):', '']
    out += [f"- {r['network']}: " + ', '.join(f"{o['type']} {o['s_per_step']:.3f} ({o['category']})" for o in r['top_ops'])
            for r in res['networks']]
    out += [f"- {r['network']} with XLA failed: {r['xla_error']}" for r in res['networks'] if r['xla_error']]
    out += ['', res['method'], '']
    return '\n'.join(out)


def plot(res, path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = res['networks']
    fig, ax = plt.subplots(figsize=(9, 0.7*len(rows) + 2.4))
    y = np.arange(len(rows)); left = np.zeros(len(rows))
    for c, colour in zip(CATEGORIES, plt.cm.tab10.colors):
        v = np.array([r['shares'][c]*r['step_s'] for r in rows])
        if v.any(): ax.barh(y, v, 0.38, left=left, color=colour, label=c); left += v
    xla = [r['xla_step_s'] or 0 for r in rows]
    ax.barh(y + 0.4, xla, 0.38, color='0.6', hatch='//', edgecolor='0.3', label='the same step with XLA (not broken down)')
    for k, r in enumerate(rows):
        ax.text(r['step_s'], k, f" {r['step_s']:.2f} s, {100*r['fraction_of_matmul_peak']:.0f} % of matmul rate", va='center', fontsize=8)
        if r['xla_step_s']: ax.text(r['xla_step_s'], k + 0.4, f" {r['xla_step_s']:.2f} s, {100*r['xla_fraction_of_matmul_peak']:.0f} %", va='center', fontsize=8)
    ax.set_yticks(y + 0.2, [r['network'] for r in rows]); ax.invert_yaxis()
    ax.set_xlim(0, 1.3*max(max(r['step_s'] for r in rows), max(xla)))
    ax.set_xlabel('wall time of one training step, batch 32 (s): shared among the categories in proportion to their op time')
    ax.set_title(f"Where a training step's time goes: {res['environment']['cpu']}, {res['environment']['cores']} cores, "
                 f"matmul {res['matmul_gflops']:.0f} GFLOP/s (SYNTHETIC windows)", fontsize=9)
    ax.legend(fontsize=8, ncol=2, loc='upper center', bbox_to_anchor=(0.5, -0.22 if len(rows) > 2 else -0.45))
    fig.tight_layout(); fig.savefig(path, dpi=120); plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--archs', nargs='*', default=list(ARCHS), help=f'networks (default: all of {ARCHS})')
    p.add_argument('--steps', type=int, default=6, help='profiled training steps per network')
    p.add_argument('--warmup', type=int, default=3, help='steps run before profiling (tracing, first allocations)')
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--no-xla', action='store_true', help='skip the XLA (jit_compile=True) timing')
    p.add_argument('--matmul-n', type=int, default=4096)
    p.add_argument('--out', type=Path, default=RESULTS/'training_profile')
    args = p.parse_args()
    peaks = [matmul_peak(args.matmul_n)]
    print(f'dense float32 matmul: {peaks[0]/1e9:.1f} GFLOP/s', flush=True)
    env, rows = environment(), []
    with tempfile.TemporaryDirectory() as tmp:
        h5, idx = windows(Path(tmp), max(args.warmup, args.steps)*args.batch)
        for a in args.archs:
            print(f'{a}:', flush=True)
            rows.append(profile(a, h5, idx, args))
    peaks.append(matmul_peak(args.matmul_n)); peak = max(peaks)
    for r in rows:     # fractions against the higher of the two matmul measurements, as training_throughput.py does
        r['fraction_of_matmul_peak'] = r['train_gflops']*1e9/peak
        r['gemm_fraction_of_peak'] = r['gemm_gflops']*1e9/peak if r['gemm_gflops'] else None
        r['xla_fraction_of_matmul_peak'] = r['train_gflop_per_step']*1e9/r['xla_step_s']/peak if r['xla_step_s'] else None
    env['loadavg_after'] = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    res = dict(environment=env, batch=args.batch, steps=args.steps, warmup=args.warmup, matmul_n=args.matmul_n,
               matmul_gflops=peak/1e9, matmul_gflops_runs=[v/1e9 for v in peaks], networks=rows,
               method=('Op self time from tf.profiler traces of model.fit (see the script\'s docstring): GEMM & convolution = '
                       'MatMul, Conv2D and their fused and backprop forms, FFT; optimizer update = ops in Adam\'s name scope '
                       'and variable assignments; recurrent loop = While, TensorList and loop-control ops; input pipeline = '
                       'iterator ops; the rest (activations, batch norm, pooling, bias and their gradients, loss, metrics) '
                       'is element-wise & reductions. GEMM kernels alone = analytic training FLOPs of a step over the GEMM & '
                       'convolution share of the step\'s wall time (shares in proportion to op self time). Step = the wall '
                       'time of an untraced step; the profiler\'s tracing slows every op, most where ops are many and small '
                       '(step traced), so the traces give the shares and the untraced steps the time.'))
    save_results(res, args.out, markdown)
    plot(res, args.out.with_suffix('.png'))
    print(f'figure: {args.out.with_suffix(".png")}')


if __name__ == '__main__':
    main()

"""Model card of the four networks (`bpnb.models.build_model`) on this machine's CPU: parameters, FLOPs per
7-s window, size of the `.keras` file, inference latency per window (batch 1 and 32), training throughput
(windows/s, batch 32) and the fraction of the machine's measured dense float32 matmul rate it achieves.

Run from the project root (it uses every core TensorFlow sees; random data, no dataset needed):

    .venv/bin/python benchmarks/model_card.py [--archs alexnet resnet ...] [--repeats 7] [--train-steps 3]

Prints a table and writes benchmarks/results/model_card.json and model_card.md. A benchmark, not a test.

FLOPs are counted analytically per layer from the built model's shapes (2 FLOPs per multiply-add of
convolutions, dense layers and LSTM/GRU gates over all time steps, plus 5 N log2 N per STFT frame;
element-wise work such as BN, activations and pooling is left out) and cross-checked against TensorFlow's
graph profiler, which sees a recurrent layer's loop body only once and so undercounts recurrent networks.
Training FLOPs are taken as 3x forward FLOPs (forward, and backward for activations and weights).
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse, json, platform, statistics, tempfile, time
from datetime import datetime, timezone
from pathlib import Path
import numpy as np
import tensorflow as tf
import keras
from keras import layers

from bpnb.config import ARCHS
from bpnb.models import build_model

RESULTS = Path(__file__).resolve().parent/'results'
VARIANTS = [('alexnet', False), ('alexnet', True), ('resnet', False), ('slapnicar', False), ('slapnicar', True), ('lstm', False)]


# ---- FLOPs ----

def _shape(t): return tuple(t.shape[1:])

def layer_flops(layer) -> int:
    "Forward FLOPs of one layer for one window (see the module docstring for what is counted)."
    if isinstance(layer, layers.Conv1D):
        (l_out, c_out), c_in = _shape(layer.output), _shape(layer.input)[-1]
        return 2*l_out*layer.kernel_size[0]*c_in*c_out
    if isinstance(layer, layers.Dense):
        return 2*int(np.prod(_shape(layer.input)))*layer.units
    if isinstance(layer, (layers.Bidirectional, layers.LSTM, layers.GRU)):
        cells = [layer.forward_layer, layer.backward_layer] if isinstance(layer, layers.Bidirectional) else [layer]
        t, d = _shape(layer.input)
        gates = lambda c: 4 if isinstance(c, layers.LSTM) else 3
        return sum(2*t*gates(c)*c.units*(d + c.units) for c in cells)
    if type(layer).__name__ == 'STFT':
        frames, _, ch = _shape(layer.output)
        return int(frames*ch*5*layer.n_fft*np.log2(layer.n_fft))
    return 0

def analytic_flops(model) -> int:
    return sum(layer_flops(l) for l in model.layers)

def profiler_flops(model) -> int | None:
    "FLOPs per window from TensorFlow's graph profiler (frozen forward graph, batch 1)."
    try:
        from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
        from tensorflow.python.profiler.model_analyzer import profile
        from tensorflow.python.profiler.option_builder import ProfileOptionBuilder
        fn = tf.function(lambda x: model(x, training=False))
        frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec((1,) + model.input_shape[1:], tf.float32)))
        opts = ProfileOptionBuilder(ProfileOptionBuilder.float_operation()).with_empty_output().build()
        return int(profile(graph=frozen.graph, options=opts).total_float_ops)
    except Exception as e:
        print(f'  (profiler failed: {type(e).__name__}: {e})')
        return None


# ---- timing ----

def median_time(f, repeats, warmup=2):
    for _ in range(warmup): f()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

def matmul_peak(n=4096, repeats=7) -> float:
    "Dense float32 matmul rate of this machine with TensorFlow, FLOP/s (2 n^3 per product)."
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    return 2*n**3/median_time(lambda: mm().numpy(), repeats)

def latency(model, batch, repeats) -> float:
    "Median seconds per window of a compiled forward call on a random batch."
    x = tf.random.normal((batch,) + model.input_shape[1:])
    fwd = tf.function(lambda x: model(x, training=False))
    return median_time(lambda: [o.numpy() for o in fwd(x)], repeats)/batch

def train_rate(model, steps, batch=32) -> float:
    "Training windows/s: Adam, MSE on both heads, random data; median step time after one warm-up step."
    model.compile(keras.optimizers.Adam(3e-3), loss='mse')
    x = np.random.randn(batch, *model.input_shape[1:]).astype('float32')
    y = {'SBP': np.random.normal(120, 20, (batch, 1)), 'DBP': np.random.normal(70, 10, (batch, 1))}
    return batch/median_time(lambda: model.train_on_batch(x, y), steps, warmup=1)


# ---- the card ----

def card(arch, derivatives, args, tmp):
    keras.utils.set_random_seed(0)
    m = build_model(arch, input_len=args.input_len, derivatives=derivatives)
    name = arch + ('+deriv' if derivatives else '')
    print(f'{name}: building done, {m.count_params():,} parameters', flush=True)
    f = tmp/f'{name}.keras'; m.save(f); size = f.stat().st_size; f.unlink()
    flops = analytic_flops(m)
    r = dict(network=name, arch=arch, derivatives=derivatives, params=m.count_params(), flops_per_window=flops,
             flops_profiler=profiler_flops(m), keras_file_bytes=size,
             matmul_gflops_now=matmul_peak(args.matmul_n, repeats=3)/1e9)  # the machine's state (shared cores?) right now
    r['latency_ms_batch1'] = 1e3*latency(m, 1, args.repeats)
    r['latency_ms_per_window_batch32'] = 1e3*latency(m, 32, max(3, args.repeats//2))
    r['train_windows_per_s'] = train_rate(m, args.train_steps)
    r['train_flops_per_s'] = 3*flops*r['train_windows_per_s']
    print('  ' + ', '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in r.items() if k not in ('network', 'arch')), flush=True)
    return r

def markdown(res) -> str:
    env, rows = res['environment'], res['networks']
    now = ', '.join(f"{r['matmul_gflops_now']:.0f}" for r in rows)
    out = [f"# Model card: the four networks on this machine's CPU", '',
           f"{env['date']} · {env['cpu']} · {env['cores']} cores · TensorFlow {env['tensorflow']}, Keras {env['keras']} · "
           f"input {res['input_len']} x 1 · load average (1, 5, 15 min) before the run {env['loadavg']}, after {env['loadavg_after']}", '',
           f"Measured dense float32 matmul ({res['matmul_n']}^3, TensorFlow, median of 7): {res['matmul_gflops_before']:.1f} GFLOP/s "
           f"before and {res['matmul_gflops_after']:.1f} GFLOP/s after the networks, "
           f"{now} GFLOP/s (median of 3) just before each network; "
           f"the percentages use the best, **{res['matmul_gflops']:.1f} GFLOP/s**. A matmul rate well below the best means "
           "other processes shared the cores during that network's timings.", '',
           '| network | parameters | MFLOPs/window (profiler) | .keras MB | latency batch 1 (ms) | latency/window batch 32 (ms) '
           '| train windows/s (batch 32) | train GFLOP/s | % of matmul peak (train) | % (inference, batch 32) |',
           '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in rows:
        prof = f"{r['flops_profiler']/1e6:,.1f}" if r['flops_profiler'] else 'n/a'
        out.append(f"| {r['network']} | {r['params']:,} | {r['flops_per_window']/1e6:,.1f} ({prof}) | {r['keras_file_bytes']/1e6:,.1f} "
                   f"| {r['latency_ms_batch1']:.2f} | {r['latency_ms_per_window_batch32']:.3f} | {r['train_windows_per_s']:.1f} "
                   f"| {r['train_flops_per_s']/1e9:.2f} | {100*r['train_fraction_of_matmul_peak']:.1f} "
                   f"| {100*r['infer32_fraction_of_matmul_peak']:.1f} |")
    out += ['', res['method'], '']
    return '\n'.join(out)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--archs', nargs='*', default=None, help=f'networks to run (default: all variants); names from {ARCHS}, suffix +deriv')
    p.add_argument('--input-len', type=int, default=875)
    p.add_argument('--repeats', type=int, default=7, help='timed repeats per latency (median reported)')
    p.add_argument('--train-steps', type=int, default=5, help='timed training steps of batch 32 after one warm-up step (median reported)')
    p.add_argument('--matmul-n', type=int, default=4096)
    p.add_argument('--out', type=Path, default=RESULTS/'model_card')
    args = p.parse_args()
    variants = VARIANTS if not args.archs else [(a.split('+')[0], a.endswith('+deriv')) for a in args.archs]

    peak_before = matmul_peak(args.matmul_n)
    print(f'dense float32 matmul: {peak_before/1e9:.1f} GFLOP/s', flush=True)
    load_before = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    cpu = next((l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name')), platform.processor())
    env = dict(date=datetime.now(timezone.utc).isoformat(timespec='seconds'), cpu=cpu, cores=os.cpu_count(),
               loadavg=load_before, python=platform.python_version(),
               tensorflow=tf.__version__, keras=keras.__version__,
               threads=dict(intra=tf.config.threading.get_intra_op_parallelism_threads(), inter=tf.config.threading.get_inter_op_parallelism_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [card(a, d, args, Path(tmp)) for a, d in variants]
    peak_after = matmul_peak(args.matmul_n)
    # the machine's capability: the best of all matmul measurements (other processes may share the cores)
    peak = max([peak_before, peak_after] + [r['matmul_gflops_now']*1e9 for r in rows])
    for r in rows:
        r['train_fraction_of_matmul_peak'] = r['train_flops_per_s']/peak
        r['infer32_fraction_of_matmul_peak'] = r['flops_per_window']/(r['latency_ms_per_window_batch32']/1e3)/peak
    env['loadavg_after'] = ' '.join(f'{v:.2f}' for v in os.getloadavg())
    res = dict(environment=env, input_len=args.input_len, matmul_n=args.matmul_n, matmul_gflops=peak/1e9,
               matmul_gflops_before=peak_before/1e9, matmul_gflops_after=peak_after/1e9,
               repeats=args.repeats, train_steps=args.train_steps, networks=rows,
               method=('FLOPs: analytic per layer (2 per multiply-add of Conv1D, Dense, LSTM/GRU gates over all time steps; '
                       '5 N log2 N per STFT frame; element-wise ops excluded); in brackets TensorFlow\'s graph profiler on the frozen '
                       'forward graph, which counts a recurrent loop body once. Latency: tf.function forward call on a random batch, '
                       f'2 warm-up calls, median of {args.repeats} (batch 1) or {max(3, args.repeats//2)} (batch 32) repeats. '
                       f'Training: train_on_batch, Adam, MSE on both heads, batch 32, median of {args.train_steps} timed steps after one warm-up; '
                       'training FLOPs = 3 x forward FLOPs. .keras size: model.save of the freshly built model (weights only, no optimizer).'))
    save_results(res, args.out, markdown)

def save_results(res, out, markdown):
    "Write `res` as `out`.json and its Markdown table as `out`.md (each atomically), and print the table."
    from bpnb.config import atomic_write_text
    atomic_write_text(out.with_suffix('.json'), json.dumps(res, indent=1))
    md = markdown(res)
    atomic_write_text(out.with_suffix('.md'), md)
    print(md)

if __name__ == '__main__':
    main()

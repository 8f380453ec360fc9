"""Why the LSTM does not learn in a quick run: linear probes of its layers at initialisation.

In the quick profile the LSTM's training loss stays at the mean baseline's: 643 -> 640 in 5 epochs at lr 3e-3
(session 9); in session 10 also with output heads scaled by the label SD at lr 1e-3, 3e-3 and 1e-2 (4 epochs of 1000
windows), and with the chrono initialisation below (3 epochs of 2000 windows at 3e-3). This script asks where the
blood-pressure information is lost. It builds the LSTM with fresh weights, runs SYNTHETIC windows through it, and
fits a ridge regression (features standardised, penalty by cross-validation) from a layer's output to SBP and DBP
on the training subjects; the MAE on other subjects says how much a linear read-out of that layer could already
know. A layer whose probe is no better than the mean baseline gives the layers after it nothing to learn from.

Layers probed: the last BiLSTM's output (its final state: what the dense layers see), the dense layer before the
heads, and the time-mean of the first BiLSTM's output sequence (which the published network never forms). Each with
Keras' initialisation (forget-gate bias 1) and with the chrono initialisation of Tallec & Ollivier ("Can recurrent
neural networks warp time?", ICLR 2018: forget-gate bias log U(1, T-1), input-gate bias its negative), which gives
the gates memories of up to T steps.

Run from the project root (nothing is downloaded; about 2 minutes on 2 cores):

    .venv/bin/python benchmarks/lstm_probe.py [--subjects 200] [--windows 800]

Prints a table and writes benchmarks/results/lstm_probe.json, .md and .png. A diagnostic, not a test.
"""
import os
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')

import argparse, sys, tempfile
from pathlib import Path
import numpy as np
import keras, h5py

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_card import save_results
from training_throughput import dataset, environment
from bpnb.models import build_model

RESULTS = Path(__file__).resolve().parent/'results'


def data(tmp: Path, subjects: int, minutes: float, n: int, seed: int = 0):
    "Windows of a SYNTHETIC cohort on a subject split: (x_train, y_train, x_test, y_test), at most `n` training windows."
    h5, sp = dataset(tmp, subjects, minutes, split_mode='subject')
    rng = np.random.default_rng(seed)
    def pick(part, k): idx = np.unique(sp[part]); return np.sort(rng.choice(idx, min(k, len(idx)), replace=False))
    tr, te = pick('train', n), pick('test', n//2)
    with h5py.File(h5, 'r') as f:
        return f['ppg'][tr][..., None], f['label'][tr], f['ppg'][te][..., None], f['label'][te]


def chrono(model, t_max: float, seed: int = 0):
    "Set every LSTM cell's forget-gate bias to log U(1, t_max - 1) and its input-gate bias to the negative (in place)."
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            for cell in (layer.forward_layer.cell, layer.backward_layer.cell):
                b, u = cell.bias.numpy(), cell.units          # Keras' gate order: input, forget, cell, output
                b[u:2*u] = np.log(rng.uniform(1, t_max - 1, u)); b[:u] = -b[u:2*u]
                cell.bias.assign(b)
    return model


def probe(features_train, y_train, features_test, y_test):
    "Ridge from standardised features to (SBP, DBP): test MAE per target and the features' median SD."
    from sklearn.linear_model import RidgeCV
    mu, sd = features_train.mean(0), features_train.std(0) + 1e-12
    r = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit((features_train - mu)/sd, y_train)
    mae = np.abs(r.predict((features_test - mu)/sd) - y_test).mean(0)
    return dict(SBP=float(mae[0]), DBP=float(mae[1]), feature_sd=float(np.median(sd)))


def rows(x_tr, y_tr, x_te, y_te, t_max=(None, 125, 875)):
    out = [dict(network='-', init='-', layer='mean baseline', **{t: float(v) for t, v in zip(('SBP', 'DBP'), np.abs(y_te - y_tr.mean(0)).mean(0))}, feature_sd=None)]
    def add(net, init, layer, f):
        out.append(dict(network=net, init=init, layer=layer, **probe(f(x_tr), y_tr, f(x_te), y_te)))
        print(f"{net:8s} {init:22s} {layer:40s} SBP {out[-1]['SBP']:6.2f} DBP {out[-1]['DBP']:6.2f}", flush=True)
    run = lambda sub: (lambda x: sub.predict(x, batch_size=100, verbose=0))
    for t in t_max:
        keras.utils.set_random_seed(0)
        m = build_model('lstm', x_tr.shape[1])
        if t: chrono(m, t)
        bi = [l for l in m.layers if isinstance(l, keras.layers.Bidirectional)]
        init = 'Keras (forget bias 1)' if t is None else f'chrono, T = {t}'
        add('LSTM', init, 'last BiLSTM (final state)', run(keras.Model(m.input, bi[-1].output)))
        add('LSTM', init, 'dense before the heads', run(keras.Model(m.input, m.get_layer('SBP').input)))
        seq = keras.Model(m.input, bi[0].output)
        add('LSTM', init, 'first BiLSTM, mean over time', lambda x: run(seq)(x).mean(1))
    return out


def markdown(res) -> str:
    e = res['environment']
    lines = [f"# Linear probes of the LSTM at initialisation ({e['date']}, {e['cpu']})", '',
             f"SYNTHETIC cohort: {res['subjects']} subjects x {res['minutes']} min, subject split; ridge fitted on "
             f"{res['windows_train']} training windows, MAE on {res['windows_test']} windows of other subjects (mmHg).", '',
             '| network | initialisation | layer probed | SBP MAE | DBP MAE | feature SD (median) |', '|---|---|---|---:|---:|---:|']
    for r in res['rows']:
        sd = '' if r['feature_sd'] is None else f"{r['feature_sd']:.1e}"
        lines.append(f"| {r['network']} | {r['init']} | {r['layer']} | {r['SBP']:.2f} | {r['DBP']:.2f} | {sd} |")
    return '\n'.join(lines) + '\n'


def plot(res, path):
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt, pandas as pd, seaborn as sns
    df = pd.DataFrame(res['rows'])
    df['probe'] = [r.layer if r.network == '-' else f"{r.network}, {r.init}:\n{r.layer}" for r in df.itertuples()]
    long = df.melt(id_vars='probe', value_vars=['SBP', 'DBP'], var_name='target', value_name='MAE')
    fig, ax = plt.subplots(figsize=(10, 0.55*len(df) + 1.5))
    sns.barplot(long, y='probe', x='MAE', hue='target', ax=ax, orient='h')
    for t, c in zip(('SBP', 'DBP'), sns.color_palette()[:2]):
        ax.axvline(df.loc[0, t], color=c, ls='--', lw=1)
    ax.set(xlabel='test MAE of a ridge read-out, mmHg (dashed: mean baseline)', ylabel='')
    ax.set_title('Where the LSTM loses the blood-pressure information (fresh weights, linear probes)', fontsize=11)
    fig.text(0.01, 0.005, f"SYNTHETIC data (bpnb cohort, {res['subjects']} subjects), subject split; {res['environment']['date']}",
             fontsize=8, color='0.3')
    fig.tight_layout(rect=(0, 0.02, 1, 1)); fig.savefig(path, dpi=110); plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--subjects', type=int, default=200, help='synthetic subjects (the quick profile: 200; half of them train the probes)')
    p.add_argument('--minutes', type=float, default=6.)
    p.add_argument('--windows', type=int, default=800, help='training windows for the probes (half as many test windows)')
    p.add_argument('--out', type=Path, default=RESULTS/'lstm_probe')
    args = p.parse_args()
    env = environment()
    with tempfile.TemporaryDirectory() as tmp:
        x_tr, y_tr, x_te, y_te = data(Path(tmp), args.subjects, args.minutes, args.windows)
    res = dict(environment=env, subjects=args.subjects, minutes=args.minutes, windows_train=len(x_tr), windows_test=len(x_te),
               rows=rows(x_tr, y_tr, x_te, y_te))
    save_results(res, args.out, markdown)
    plot(res, args.out.with_suffix('.png'))
    print(f'figure: {args.out.with_suffix(".png")}')


if __name__ == '__main__':
    main()

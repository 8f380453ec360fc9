"""Paper scale on one machine (issue 16): the data stage and the input pipeline at fractions of MIMIC-B, on SYNTHETIC cohorts.

    python benchmarks/scale_dry_run.py --fractions 0.001 0.01 0.1 0.5 --work /tmp/scale

Each fraction is built step by step in `--work/f<fraction>` (every step in a fresh process, `bpnb.scale.scale_build`), its
rows saved as `--work/steps_<fraction>.csv` (a fraction already there is not built again) and deleted; then every CSV in
`--work` is combined into benchmarks/scale_steps.csv, benchmarks/scale_results.md and benchmarks/scale_cost.png. Needs
about 38 GB of disk per 1.0 of MIMIC-B at the peak (cohort, windows, staging and HDF5 file), and about an hour per 1.0 on 2 cores."""
import argparse, os, platform, time
from pathlib import Path
import pandas as pd
from bpnb.scale import scale_build, extrapolate, growth_exponents, plot_scale

HERE = Path(__file__).resolve().parent

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--fractions', type=float, nargs='*', default=[])
    ap.add_argument('--work', type=Path, default=Path('/tmp/scale'))
    ap.add_argument('--workers', type=int, default=2)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    for f in a.fractions:
        csv = a.work/f'steps_{f:g}.csv'
        if csv.is_file(): continue
        load = os.getloadavg()
        df = scale_build(a.work/f'f{f:g}', f, workers=a.workers)
        df['load_before'], df['load_after'] = load[0], os.getloadavg()[0]
        df.to_csv(csv, index=False)
    steps = pd.concat([pd.read_csv(p) for p in sorted(a.work.glob('steps_*.csv'))], ignore_index=True).sort_values(['fraction'], kind='stable')
    steps = steps.reset_index(drop=True)
    steps.to_csv(HERE/'scale_steps.csv', index=False)
    ext, exps = extrapolate(steps), growth_exponents(steps)
    fig = plot_scale(steps, 'SYNTHETIC data: bpnb synthetic MIMIC-like cohorts at paper scale (benchmarks/scale_dry_run.py)')
    fig.savefig(HERE/'scale_cost.png', dpi=130)
    MiB = 2**20
    t = steps.assign(fraction=steps.fraction.map(lambda f: f'{100*f:g} %'), **{   # a label: tabulate would print 0.001 as 0.0
                     'peak RSS (MiB)': steps.peak_rss/MiB, 'max RSS process (MiB)': steps.maxrss/MiB,
                        'max RSS child (MiB)': steps.maxrss_children/MiB, 'disk (MiB)': steps.disk/MiB, 'peak disk (MiB)': steps.peak_disk/MiB})
    cols = ['fraction', 'step', 'dataset_windows', 'records', 'seconds', 'peak RSS (MiB)', 'max RSS process (MiB)', 'max RSS child (MiB)',
            'disk (MiB)', 'peak disk (MiB)', 'windows_per_s'] + [c for c in ('load_before', 'load_after') if c in t]
    md = ["# Paper scale on one machine: the data stage and the input pipeline (issue 16)\n",
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.platform()} · {os.cpu_count()} cores · SYNTHETIC cohorts "
          f"(30-min records), every step in a fresh process; the machine was shared (load averages in the table).\n",
          t[cols].to_markdown(index=False, floatfmt='.1f'), '\n',
          "Growth exponents (seconds ~ windows^b, fractions >= 0.01): " + ', '.join(f'{k} {v:.2f}' for k, v in exps.items()) + '\n',
          f"Extrapolated from {ext.attrs['fraction']:g} (minutes): download {ext.attrs['core_s_per_record']:.2f} core-s per record / workers, "
          f"serial dataset {1e6*ext.attrs['s_per_window']['dataset']:.0f} us and split {1e6*ext.attrs['s_per_window']['split']:.1f} us per window; "
          f"streaming {ext.attrs['windows_per_s']:,.0f} windows/s.\n", ext.to_markdown(index=False, floatfmt='.1f'), '\n']
    (HERE/'scale_results.md').write_text('\n'.join(md))
    print('\n'.join(md))

if __name__ == '__main__': main()

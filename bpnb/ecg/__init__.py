"ECG chapters: 12-lead classification (China 2019, PhysioNet/CinC 2020) and delineation (LUDB). Generated from nbs/6*_ecg_*.ipynb by nbdev."

"""Install bpnb from settings.ini (nbdev 2 layout)."""
from configparser import ConfigParser
from setuptools import setup, find_packages

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
c = cfg['DEFAULT']
setup(
    name=c['lib_name'], version=c['version'], description=c['description'],
    author=c['author'], author_email=c['author_email'], license=c['license'],
    packages=find_packages(include=[c['lib_path'], c['lib_path'] + '.*']),
    include_package_data=True, python_requires='>=' + c['min_python'],
    install_requires=c['requirements'].split(),
    entry_points={'console_scripts': c['console_scripts'].split(),
                  'nbdev': [f"{c['lib_path']}={c['lib_path']}._modidx:d"]},
)

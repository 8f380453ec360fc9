"""The static HTML report of a run, checked in headless Chromium from screenshots."""
import re, shutil, subprocess
import numpy as np
from PIL import Image
from conftest import bpnb

HEADER = np.array([0x1f, 0x4e, 0x79])   # the report's header colour
RED = np.array([255, 0, 0])             # the tiny stage draws a red square


def screenshot(html, png, tmp_path):
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    assert exe, 'Chromium is needed for this test: apt-get install chromium (make test installs it)'
    subprocess.run([exe, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                    '--disable-background-networking', '--disable-component-update', '--disable-sync',
                    '--hide-scrollbars', f'--user-data-dir={tmp_path/"chromium-profile"}',
                    f'--screenshot={png}', '--window-size=1200,1400', html.as_uri()],
                   check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(png).convert('RGB')).astype(int)


def share(img, colour, tol=12):
    return (np.abs(img - colour).max(-1) <= tol).mean()


def test_report_renders_index_and_figure(tiny, tmp_path, profile):
    run = tmp_path/'run'
    bpnb('paper', '--nbs', tiny, '--out', run, '--figures', tmp_path/'figs', '--data', tmp_path, '--quiet',   # no library chapters:
         '--profile', profile('description: the report test, no library chapters\n'), check=0)              # test_paper_run has one
    index = run/'report'/'index.html'
    assert index.is_file() and {'01_first.html', '02_second.html', '03_third.html'} <= {p.name for p in index.parent.iterdir()}
    page = index.read_text()
    # the landing page: the notebooks in the order they ran, each table as an HTML table with its caption, then the figures
    assert re.findall(r"<td><a href='[^']*'>(\w+)</a></td><td class='done'>", page) == ['01_first', '02_second', '03_third']
    assert page.index("<p class='cap'>n and its square</p>") < page.index("<td class='right'>1</td>") < page.index("src='figures/red_square.png'")
    img = screenshot(index, tmp_path/'index.png', tmp_path)
    assert share(img, HEADER) > 0.01, 'the index page header did not render'
    assert share(img, RED) > 0.002, 'the figure on the index page did not render'
    assert share(img, np.array([255, 255, 255])) < 0.97, 'the page is nearly blank'
    # the executed notebook page shows the figure inline too
    img = screenshot(run/'report'/'01_first.html', tmp_path/'stage.png', tmp_path)
    assert share(img, RED) > 0.002, 'the figure in the executed notebook did not render'
    # bpnb report rebuilds it on demand
    index.unlink()
    bpnb('report', run, check=0)
    assert index.is_file()

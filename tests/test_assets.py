"""One assets path: every bundled file is found through blurkit._assets."""

import re
from pathlib import Path

import blurkit
from blurkit._assets import ASSETS, asset_path


def test_bundled_files_resolve_under_the_one_folder():
    from blurkit.data import SAMPLE_PATH
    from blurkit.defenses.deblur.learned import _asset_path
    from blurkit.defenses.methods import _sample_archive
    from blurkit.models import registry

    assert ASSETS.is_dir() and asset_path("imagenet_classes.tsv").is_file()
    assert SAMPLE_PATH == _sample_archive() == asset_path("cifar10-sample.tar.gz")
    assert SAMPLE_PATH.is_file()
    assert registry.ASSETS == ASSETS and _asset_path().parent == ASSETS


def test_no_module_builds_the_assets_path_itself():
    src = Path(blurkit.__file__).parent
    pattern = re.compile(r"""["']assets["']""")
    found = [
        str(p.relative_to(src))
        for p in src.rglob("*.py")
        if p.name != "_assets.py" and pattern.search(p.read_text())
    ]
    assert found == []

"""cim_mm.evaluation.robustness.imagenet_c: AlexNet's errors as data, and
CE / mCE against a hand computation."""
import json
import os.path as osp
import re

import pytest

from cim_mm.evaluation.robustness import (ALEXNET_ERRORS_FILE, CORRUPTIONS,
                                          alexnet_errors,
                                          alexnet_errors_source,
                                          corruption_errors)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))))


def test_alexnet_errors_ship_with_their_source():
    errors = alexnet_errors()
    assert list(errors) == list(CORRUPTIONS) and len(errors) == 15
    assert errors['gaussian_noise'] == 0.886428
    assert errors['jpeg_compression'] == 0.6065
    assert all(0.5 < e < 1 for e in errors.values())
    source = alexnet_errors_source()
    assert 'augmix' in source and 'hendrycks/robustness' in source
    with open(ALEXNET_ERRORS_FILE) as f:
        assert 'Hendrycks & Dietterich' in json.load(f)['description']


def test_the_data_file_is_package_data():
    with open(osp.join(REPO, 'pyproject.toml')) as f:
        package_data = f.read().split('[tool.setuptools.package-data]')[1]
    patterns = re.findall(r'"([^"]+)"', package_data.split('\n[')[0])
    relative = osp.relpath(ALEXNET_ERRORS_FILE, osp.join(REPO, 'cim_mm'))
    import fnmatch
    assert any(fnmatch.fnmatch(relative, p) for p in patterns), patterns


def test_mce_by_hand():
    reference = {c: 0.5 for c in CORRUPTIONS}
    reference['fog'] = 0.8
    errors = {c: [0.1] * 5 for c in CORRUPTIONS}
    errors['fog'] = [0.0, 0.2, 0.4, 0.6, 0.8]
    result = corruption_errors(errors, reference)
    # CE = sum_s E_s / (5 * mean AlexNet error); 14 corruptions at 0.1/0.5
    assert result['ce']['snow'] == pytest.approx(0.5 / 2.5)
    assert result['ce']['fog'] == pytest.approx(2.0 / 4.0)
    assert result['mean_error']['fog'] == pytest.approx(0.4)
    assert result['mce'] == pytest.approx((14 * 0.2 + 0.5) / 15)


def test_alexnet_itself_scores_100():
    errors = {c: [e] * 5 for c, e in alexnet_errors().items()}
    assert corruption_errors(errors)['mce'] == pytest.approx(1.0)


def test_incomplete_errors_are_refused():
    errors = {c: [0.1] * 5 for c in CORRUPTIONS[1:]}
    with pytest.raises(ValueError, match='gaussian_noise'):
        corruption_errors(errors)
    errors['gaussian_noise'] = [0.1] * 4
    with pytest.raises(ValueError, match='5 severities'):
        corruption_errors(errors)

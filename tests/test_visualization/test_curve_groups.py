"""curve_groups: work dirs into groups by regex, a group's summary per
step (mean, sample std, min, max over the runs that all logged it)."""
import pytest

from cim_mm.visualization.curve_groups import (group_work_dirs, parse_group,
                                               summarise_group)
from cim_mm.visualization.scalar_logs import ScalarLogError


def test_group_summary_mean_std_min_max_over_common_steps():
    points = summarise_group([[(0, 1.0), (5, 2.0), (9, 4.0)],
                              [(0, 3.0), (5, float('nan')), (9, 8.0)]])
    assert [p.step for p in points] == [0, 9]  # 5: a NaN is left out
    first = points[0]
    assert (first.mean, first.min, first.max, first.n) == (2.0, 1.0, 3.0, 2)
    assert abs(first.std - 2 ** 0.5) < 1e-12  # sample std (n - 1)
    assert summarise_group([[(1, 5.0)]])[0].std == 0.0
    assert summarise_group([]) == []


def test_first_matching_group_takes_a_work_dir():
    groups = [parse_group('CIM=cim-'), parse_group('all=seed')]
    assert groups == [('CIM', 'cim-'), ('all', 'seed')]
    members = group_work_dirs(['w/cim-seed0', 'w/mae-seed0'], groups)
    assert members == {'CIM': ['w/cim-seed0'], 'all': ['w/mae-seed0']}
    assert parse_group('mae') == ('mae', 'mae')
    for bad in ('=x', 'x=', 'bad=('):
        with pytest.raises(ScalarLogError, match='--group'):
            parse_group(bad)

"""Is the month just loaded like the service's other months? Compared with its nearest loaded
months on rows read, share kept and share without zones (utils/domain/unusual_month.py); one far
outside their range is flagged: a WARNING in this block's log, a warning alert (a run the server
started) and a row in unusual_months that the dashboard lists. The run completes either way
(utils/steps/month_check.py). Thresholds: the pipeline variables unusual_rows_ratio (3),
unusual_share_points (20) and unusual_neighbours (6).
"""

from utils.steps.month_check import flag_unusual_month as compare_with_neighbours

if 'custom' not in globals():
    from mage_ai.data_preparation.decorators import custom
if 'test' not in globals():
    from mage_ai.data_preparation.decorators import test


@custom
def flag_unusual_month(manifest: dict, *args, **kwargs) -> dict:
    return compare_with_neighbours(manifest, kwargs)


@test
def test_a_month_is_compared_with_others_or_says_why_not(checked: dict, *args) -> None:
    assert checked['compared'] or checked['why'], checked
    assert checked['month'] not in checked['neighbours'], checked  # never with itself
    if checked['findings']:  # a flag rests on enough months (utils/domain/unusual_month.MIN_NEIGHBOURS)
        assert len(checked['neighbours']) >= 3, checked

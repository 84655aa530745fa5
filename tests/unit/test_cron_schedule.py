"""`topology/cron.py`'s CronSchedule: iii's expressions (the Rust `cron` crate's), seconds first, in
six or seven fields; bad expressions refused with messages that say what is wrong."""

from datetime import datetime, timezone

import pytest
from iii_kafka.topology.cron import MAX_TICKS, CronExpressionError, CronSchedule
from iii_kafka.topology.triggers import TriggerConfigError, check_trigger_config


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


NOW = ms(2026, 11, 30, 0, 53, 20)  # a Monday


def test_six_fields_put_seconds_first():
    assert CronSchedule("30 15 10 * * *").next_after(NOW) == ms(2026, 11, 30, 10, 15, 30)
    assert CronSchedule("0 */5 * * * *").next_after(NOW) == ms(2026, 11, 30, 0, 55, 0)  # iii's example
    assert CronSchedule("*/2 * * * * *").ticks(NOW, NOW + 6000) == [NOW + 2000, NOW + 4000, NOW + 6000]


def test_every_second_ticks_in_a_window_are_half_open():
    """`(after, until]`: a tick at `after` belongs to the window before (it was fired there)."""
    assert CronSchedule("* * * * * *").ticks(NOW, NOW + 3000) == [NOW + 1000, NOW + 2000, NOW + 3000]
    assert CronSchedule("* * * * * *").ticks(NOW + 500, NOW + 1500) == [NOW + 1000]
    assert CronSchedule("* * * * * *").ticks(NOW, NOW) == []


def test_seven_fields_add_a_year():
    assert CronSchedule("0 0 12 1 1 * 2030").next_after(NOW) == ms(2030, 1, 1, 12, 0, 0)
    assert CronSchedule("0 0 12 1 1 * 2027-2030").ticks(NOW, ms(2029, 6, 1)) == \
        [ms(2027, 1, 1, 12), ms(2028, 1, 1, 12), ms(2029, 1, 1, 12)]


def test_names_of_days_and_months():
    assert CronSchedule("0 0 0 * * SUN").next_after(NOW) == ms(2026, 12, 6)
    assert CronSchedule("0 0 9 * * MON-FRI").next_after(NOW) == ms(2026, 11, 30, 9)
    assert CronSchedule("0 0 0 1 JAN *").next_after(NOW) == ms(2027, 1, 1)


def test_numeric_days_of_week_count_from_sunday_as_one_as_in_iii():
    assert CronSchedule("0 0 0 * * 1").next_after(NOW) == ms(2026, 12, 6)  # Sunday
    assert CronSchedule("0 0 0 * * 2-6").next_after(NOW) == CronSchedule("0 0 0 * * MON-FRI").next_after(NOW)
    assert CronSchedule("0 0 0 * * 7").next_after(NOW) == CronSchedule("0 0 0 * * SAT").next_after(NOW)
    with pytest.raises(CronExpressionError, match="day of week 0 is out of range"):
        CronSchedule("0 0 0 * * 0")


def test_a_window_holds_at_most_max_ticks():
    assert len(CronSchedule("* * * * * *").ticks(NOW, NOW + (MAX_TICKS + 50) * 1000)) == MAX_TICKS


@pytest.mark.parametrize("expression,fragment", [
    ("* * * * *", "has 5 field(s); iii's cron takes 6"),
    ("* * * * * * * *", "has 8 field(s)"),
    ("", "has 0 field(s)"),
    ("61 * * * * *", "is not valid"),
    ("* 60 * * * *", "is not valid"),
    ("* * 25 * * *", "is not valid"),
    ("a b c d e f", "is not valid"),
    ("* * * * * * 1800", "is not valid"),
])
def test_bad_expressions_say_what_is_wrong(expression, fragment):
    with pytest.raises(CronExpressionError) as error:
        CronSchedule(expression)
    assert fragment in str(error.value)
    assert repr(expression) in str(error.value)


def test_a_non_string_expression_is_refused():
    with pytest.raises(CronExpressionError, match="must be a string, got int"):
        CronSchedule(5)  # type: ignore[arg-type]


def test_registration_checks_the_expression():
    assert check_trigger_config("cron", {"expression": "*/2 * * * * *"}) == {"expression": "*/2 * * * * *"}
    with pytest.raises(TriggerConfigError, match=r"cron trigger config: expression '\* \* \* \* \*' has 5"):
        check_trigger_config("cron", {"expression": "* * * * *"})
    with pytest.raises(TriggerConfigError, match="expression is required"):
        check_trigger_config("cron", {})

"""English number words for the grammar's built-in number slots (`$pv.TwoDigitInteger:minutes`, ...).

Rhino contexts may use Picovoice's built-in slot types without listing their values; voice_ft
generates those values here, as what a speaker says ("twenty five") and the canonical value the
application receives ("25"). Only what commands need: 0-100, cardinal and ordinal.
"""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_ONES = (
    "zeroth first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
    "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth"
).split()
_ORDINAL_TENS = "_ _ twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split()


def cardinal(n: int) -> str:
    """0..100 -> "zero" .. "twenty five" .. "one hundred" (words separated by spaces)."""
    if not 0 <= n <= 100:
        raise ValueError(f"{n} is outside 0..100")
    if n == 100:
        return "one hundred"
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])


def ordinal(n: int) -> str:
    """1..99 -> "first" .. "twenty fifth"."""
    if not 1 <= n <= 99:
        raise ValueError(f"{n} is outside 1..99")
    if n < 20:
        return _ORDINAL_ONES[n]
    tens, ones = divmod(n, 10)
    return _ORDINAL_TENS[tens] if ones == 0 else f"{_TENS[tens]} {_ORDINAL_ONES[ones]}"


def ordinal_suffix(n: int) -> str:
    """1 -> "1st", 12 -> "12th", 23 -> "23rd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# built-in slot type -> [(canonical value, spoken form)]
BUILTIN_SLOT_TYPES = {
    "pv.SingleDigitInteger": [(str(n), cardinal(n)) for n in range(10)],
    "pv.TwoDigitInteger": [(str(n), cardinal(n)) for n in range(100)],
    "pv.Percent": [(f"{n}%", f"{cardinal(n)} percent") for n in range(101)],
    "pv.SingleDigitOrdinal": [(ordinal_suffix(n), ordinal(n)) for n in range(1, 10)],
    "pv.TwoDigitOrdinal": [(ordinal_suffix(n), ordinal(n)) for n in range(1, 100)],
}

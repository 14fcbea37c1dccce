"""Deterministic rows of the WWI-shaped source, as lines of PostgreSQL's COPY text format.

Every table draws from its own ``random.Random`` seeded with ``"<seed>/<table>"`` (string seeds are
hashed with SHA-512, so they are stable across runs and platforms), and nothing reads the clock: the
same ``(seed, scale)`` always yields byte-identical rows. Orders fall on the weekdays of WWI's history
(2013-01-01 .. 2016-05-31) with a monthly seasonal factor between −10 % and +30 %; order ids grow with
the order date. Values are formatted once and reused, which is what makes the generator fast enough to
feed COPY at a few hundred thousand rows per second.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from lakepulse_oltp import reference_data as ref

HISTORY_START = dt.date(2013, 1, 1)
HISTORY_END = dt.date(2016, 5, 31)
UNPICKED_TAIL_DAYS = 3  # orders of the last few business days are still waiting to be picked
EPOCH_EDIT = "2013-01-01 00:00:00"
NULL = "\\N"

ORDERS_PER_SCALE = 225_000
CUSTOMERS_PER_SCALE = 5_000
STOCK_ITEMS_PER_SCALE = 2_000
CITIES_PER_SCALE = 2_000


@dataclass(frozen=True)
class SeedPlan:
    """How many rows each scalable table gets; order lines follow from the 2–5 lines per order."""

    scale: float
    seed: int
    orders: int
    customers: int
    stock_items: int
    cities: int

    @classmethod
    def for_scale(cls, scale: float, seed: int) -> SeedPlan:
        return cls(
            scale=scale,
            seed=seed,
            orders=max(50, round(ORDERS_PER_SCALE * scale)),
            customers=max(20, round(CUSTOMERS_PER_SCALE * scale)),
            stock_items=max(30, round(STOCK_ITEMS_PER_SCALE * scale)),
            cities=max(len(ref.STATE_PROVINCES) + 7, round(CITIES_PER_SCALE * scale)),
        )

    @property
    def expected_order_lines(self) -> int:
        return round(self.orders * 3.5)


def rng_for(seed: int, table: str) -> random.Random:
    return random.Random(f"{seed}/{table}")  # noqa: S311 - reproducible test data, not secrets


def next_weekday(day: dt.date) -> dt.date:
    """WWI promises delivery on the next business day: Friday's orders arrive on Monday."""
    step = {4: 3, 5: 2}.get(day.weekday(), 1)
    return day + dt.timedelta(days=step)


def business_days(start: dt.date = HISTORY_START, end: dt.date = HISTORY_END) -> list[dt.date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def orders_per_day(total: int, days: list[dt.date]) -> list[int]:
    """Spread ``total`` orders over ``days`` by seasonal weight (largest-remainder, no randomness)."""
    weights = [ref.MONTH_SEASONALITY[day.month - 1] for day in days]
    scale = total / sum(weights)
    exact = [w * scale for w in weights]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(days)), key=lambda i: (exact[i] - counts[i], -i), reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choices(ref.LOREM_WORDS, k=count))


def long_text_pool(seed: int, size: int = 48) -> list[str]:
    """Multi-kilobyte texts: large enough to be TOASTed even after pglz compression."""
    rng = rng_for(seed, "long_text")
    return [_words(rng, rng.randint(900, 1600)) + "." for _ in range(size)]


def short_text_pool(seed: int, size: int = 256) -> list[str]:
    rng = rng_for(seed, "short_text")
    return [_words(rng, rng.randint(3, 12)).capitalize() + "." for _ in range(size)]


def _line(*values: object) -> str:
    return "\t".join(NULL if v is None else str(v) for v in values) + "\n"


def _flag(value: bool) -> str:
    return "t" if value else "f"


# --- reference tables -----------------------------------------------------------------------------


def countries() -> Iterator[str]:
    for i, (name, iso, continent, region, subregion) in enumerate(ref.COUNTRIES, 1):
        yield _line(i, name, iso, continent, region, subregion, EPOCH_EDIT)


def state_provinces() -> Iterator[str]:
    for i, (code, name, territory, _weight) in enumerate(ref.STATE_PROVINCES, 1):
        yield _line(i, code, name, 1, territory, EPOCH_EDIT)


def named_rows(names: tuple[str, ...]) -> Iterator[str]:
    for i, name in enumerate(names, 1):
        yield _line(i, name, EPOCH_EDIT)


def suppliers() -> Iterator[str]:
    for i, name in enumerate(ref.SUPPLIERS, 1):
        slug = "".join(ch for ch in name.lower() if ch.isalnum())
        yield _line(i, name, 30, f"(847) 555-{100 + i:04d}", f"http://www.{slug}.com", EPOCH_EDIT)


SALESPERSON_IDS = tuple(range(2, 12))


def people(seed: int) -> Iterator[str]:
    """Person 1 is the system account; 2–11 are the ten salespeople; 12–20 other staff and contacts."""
    rng = rng_for(seed, "people")
    for person_id in range(1, 21):
        if person_id == 1:
            full, preferred = "Data Conversion Only", "Data Conversion Only"
        else:
            preferred = rng.choice(ref.FIRST_NAMES)
            full = f"{preferred} {rng.choice(ref.LAST_NAMES)}"
        email = f"{full.lower().replace(' ', '.')}@wideworldimporters.com" if person_id > 1 else None
        yield _line(
            person_id,
            full,
            preferred,
            _flag(person_id <= 12),
            _flag(person_id in SALESPERSON_IDS),
            email,
            f"(415) 555-{person_id:04d}",
            EPOCH_EDIT,
        )


def cities(plan: SeedPlan) -> Iterator[str]:
    """One city per state province first, the rest spread by population weight."""
    rng = rng_for(plan.seed, "cities")
    states = list(range(1, len(ref.STATE_PROVINCES) + 1))
    weights = [w for *_rest, w in ref.STATE_PROVINCES]
    for city_id in range(1, plan.cities + 1):
        state = city_id if city_id <= len(states) else rng.choices(states, weights)[0]
        name = "".join(rng.choices(ref.CITY_SYLLABLES, k=rng.randint(2, 3))).capitalize()
        population = None if rng.random() < 0.05 else rng.randint(300, 900_000)
        yield _line(city_id, name, state, population, EPOCH_EDIT)


# --- customers -----------------------------------------------------------------------------------


def customer_row(customer_id: int, rng: random.Random, cities_count: int, opened: str, edited: str) -> str:
    """One customer; ids 1 and 2 are the Tailspin and Wingtip head offices their branches bill to."""
    city = rng.randint(1, cities_count)
    if customer_id <= len(ref.BUYING_GROUPS):
        group: int | None = customer_id
        name, bill_to, category = f"{ref.BUYING_GROUPS[customer_id - 1]} (Head Office)", customer_id, 3
    else:
        roll = rng.random()
        group = 1 if roll < 0.4 else 2 if roll < 0.8 else None
        if group is not None:
            name = f"{ref.BUYING_GROUPS[group - 1]} (Branch {customer_id})"
            bill_to, category = group, rng.choice((3, 4, 6))
        else:
            name = f"{rng.choice(ref.FIRST_NAMES)} {rng.choice(ref.LAST_NAMES)} ({customer_id})"
            bill_to, category = customer_id, rng.randint(1, len(ref.CUSTOMER_CATEGORIES))
    slug = "".join(ch for ch in name.lower() if ch.isalnum())[:40]
    credit = None if group is not None and bill_to != customer_id else f"{rng.randint(10, 50) * 100}.00"
    return _line(
        customer_id,
        name,
        bill_to,
        category,
        group,
        city,
        city,
        credit,
        opened,
        "0.000",
        "f",
        7 if group is not None else 30,
        f"({rng.randint(200, 999)}) 555-{rng.randint(0, 9999):04d}",
        f"{slug}@example.com",
        f"http://www.example.com/{slug}",
        f"{rng.randint(10000, 99999)}",
        edited,
    )


def customers(plan: SeedPlan) -> Iterator[str]:
    rng = rng_for(plan.seed, "customers")
    for customer_id in range(1, plan.customers + 1):
        opened = (dt.date(2012, 1, 1) + dt.timedelta(days=rng.randrange(365))).isoformat()
        yield customer_row(customer_id, rng, plan.cities, opened, EPOCH_EDIT)


# --- stock items ---------------------------------------------------------------------------------

QUANTITIES_PER_OUTER = (1, 6, 10, 12, 24, 36, 48, 60, 72, 100, 120, 240)
SIZES = (None, None, "S", "M", "L", "XL", "XXL", "250ml", "1/12 scale", "16GB")


@dataclass
class StockCatalog:
    """What orders need to know about each item (index 0 is item 1)."""

    names: list[str] = field(default_factory=list)
    quantity_per_outer: list[int] = field(default_factory=list)
    unit_price: list[str] = field(default_factory=list)
    tax_rate: list[str] = field(default_factory=list)
    unit_package_id: list[int] = field(default_factory=list)
    groups: list[tuple[int, ...]] = field(default_factory=list)


def stock_catalog(plan: SeedPlan) -> StockCatalog:
    rng = rng_for(plan.seed, "stock_items")
    catalog = StockCatalog()
    for item_id in range(1, plan.stock_items + 1):
        primary = rng.randint(1, len(ref.STOCK_GROUPS))
        extras = {rng.randint(1, len(ref.STOCK_GROUPS)) for _ in range(rng.choice((0, 0, 1, 1, 2)))}
        groups = tuple(sorted({primary, *extras}))
        stem = rng.choice(ref.ITEM_STEMS[groups[0] - 1])
        color = rng.choice(ref.COLORS)
        catalog.names.append(f"{stem} ({color.lower()}) #{item_id}")
        catalog.quantity_per_outer.append(rng.choice(QUANTITIES_PER_OUTER))
        catalog.unit_price.append(f"{max(0.5, 10 ** rng.uniform(0, 2.6)):.2f}")
        catalog.tax_rate.append("10.000" if rng.random() < 0.1 else "15.000")
        catalog.unit_package_id.append(rng.choice((1, 4, 9, 11, 12, 13)))
        catalog.groups.append(groups)
    return catalog


def stock_items(plan: SeedPlan, catalog: StockCatalog) -> Iterator[str]:
    rng = rng_for(plan.seed, "stock_item_details")
    long_texts = long_text_pool(plan.seed)
    for i, name in enumerate(catalog.names):
        item_id = i + 1
        price = float(catalog.unit_price[i])
        comments = f"{rng.choice(long_texts)} Item {item_id}." if rng.random() < 0.6 else None
        custom = json.dumps(
            {
                "CountryOfManufacture": rng.choice(("China", "USA", "Japan", "Germany")),
                "Tags": rng.sample(("Radio Control", "Realistic Sound", "Vintage", "Comedy", "USB"), 2),
                "MinimumAge": rng.choice((None, 3, 10, 18)),
            },
            sort_keys=True,
        )
        yield _line(
            item_id,
            name,
            rng.randint(1, len(ref.SUPPLIERS)),
            rng.choice((None, *range(1, len(ref.COLORS) + 1))),
            catalog.unit_package_id[i],
            rng.choice((4, 6, 7)),
            rng.choice((None, "Northwind", "Contoso", "Fabrikam")),
            rng.choice(SIZES),
            rng.randint(2, 20),
            catalog.quantity_per_outer[i],
            _flag(rng.random() < 0.05),
            catalog.tax_rate[i],
            catalog.unit_price[i],
            f"{price * 1.495:.2f}",
            f"{rng.uniform(0.05, 20):.3f}",
            comments,
            custom,
            EPOCH_EDIT,
        )


def stock_item_stock_groups(catalog: StockCatalog) -> Iterator[str]:
    for i, groups in enumerate(catalog.groups, 1):
        for group in groups:
            yield _line(i, group, EPOCH_EDIT)


def stock_item_holdings(plan: SeedPlan, catalog: StockCatalog) -> Iterator[str]:
    """About a fifth of the items start below their reorder level, so the reorder report is not empty."""
    rng = rng_for(plan.seed, "stock_item_holdings")
    for i, per_outer in enumerate(catalog.quantity_per_outer):
        reorder = per_outer * rng.randint(20, 60)
        target = reorder * 4
        below = rng.random() < 0.2
        on_hand = rng.randint(0, reorder) if below else rng.randint(reorder + 1, target)
        bin_location = f"{chr(65 + rng.randrange(12))}-{rng.randint(1, 40)}"
        cost = f"{float(catalog.unit_price[i]) * 0.6:.2f}"
        yield _line(i + 1, on_hand, bin_location, on_hand, cost, reorder, target, HISTORY_END.isoformat())

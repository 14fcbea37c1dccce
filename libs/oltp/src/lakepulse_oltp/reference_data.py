"""Fixed reference rows of the Wide World Importers world: territories, categories, stock groups.

These rows are the same at every scale and seed; the generator numbers them from 1 in list order, so
ids are stable and the ground-truth tests can name them.
"""

from __future__ import annotations

# (country_name, iso_alpha3, continent, region, subregion)
COUNTRIES: list[tuple[str, str, str, str, str]] = [
    ("United States", "USA", "North America", "Americas", "Northern America"),
    ("Canada", "CAN", "North America", "Americas", "Northern America"),
    ("Mexico", "MEX", "North America", "Americas", "Central America"),
    ("United Kingdom", "GBR", "Europe", "Europe", "Northern Europe"),
    ("Germany", "DEU", "Europe", "Europe", "Western Europe"),
    ("China", "CHN", "Asia", "Asia", "Eastern Asia"),
    ("Japan", "JPN", "Asia", "Asia", "Eastern Asia"),
    ("Australia", "AUS", "Oceania", "Oceania", "Australia and New Zealand"),
]

SALES_TERRITORIES: tuple[str, ...] = (
    "Southeast",
    "Plains",
    "Far West",
    "Mideast",
    "New England",
    "Great Lakes",
    "Rocky Mountain",
    "Southwest",
    "External",
)

# (code, name, sales_territory, relative population weight) — all in the United States (country 1).
STATE_PROVINCES: list[tuple[str, str, str, int]] = [
    ("AL", "Alabama", "Southeast", 5),
    ("AK", "Alaska", "Far West", 1),
    ("AZ", "Arizona", "Southwest", 7),
    ("AR", "Arkansas", "Southeast", 3),
    ("CA", "California", "Far West", 39),
    ("CO", "Colorado", "Rocky Mountain", 6),
    ("CT", "Connecticut", "New England", 4),
    ("DE", "Delaware", "Mideast", 1),
    ("DC", "District of Columbia", "Mideast", 1),
    ("FL", "Florida", "Southeast", 21),
    ("GA", "Georgia", "Southeast", 11),
    ("HI", "Hawaii", "Far West", 1),
    ("ID", "Idaho", "Rocky Mountain", 2),
    ("IL", "Illinois", "Great Lakes", 13),
    ("IN", "Indiana", "Great Lakes", 7),
    ("IA", "Iowa", "Plains", 3),
    ("KS", "Kansas", "Plains", 3),
    ("KY", "Kentucky", "Southeast", 4),
    ("LA", "Louisiana", "Southeast", 5),
    ("ME", "Maine", "New England", 1),
    ("MD", "Maryland", "Mideast", 6),
    ("MA", "Massachusetts", "New England", 7),
    ("MI", "Michigan", "Great Lakes", 10),
    ("MN", "Minnesota", "Plains", 6),
    ("MS", "Mississippi", "Southeast", 3),
    ("MO", "Missouri", "Plains", 6),
    ("MT", "Montana", "Rocky Mountain", 1),
    ("NE", "Nebraska", "Plains", 2),
    ("NV", "Nevada", "Far West", 3),
    ("NH", "New Hampshire", "New England", 1),
    ("NJ", "New Jersey", "Mideast", 9),
    ("NM", "New Mexico", "Southwest", 2),
    ("NY", "New York", "Mideast", 20),
    ("NC", "North Carolina", "Southeast", 10),
    ("ND", "North Dakota", "Plains", 1),
    ("OH", "Ohio", "Great Lakes", 12),
    ("OK", "Oklahoma", "Southwest", 4),
    ("OR", "Oregon", "Far West", 4),
    ("PA", "Pennsylvania", "Mideast", 13),
    ("RI", "Rhode Island", "New England", 1),
    ("SC", "South Carolina", "Southeast", 5),
    ("SD", "South Dakota", "Plains", 1),
    ("TN", "Tennessee", "Southeast", 7),
    ("TX", "Texas", "Southwest", 29),
    ("UT", "Utah", "Rocky Mountain", 3),
    ("VT", "Vermont", "New England", 1),
    ("VA", "Virginia", "Southeast", 9),
    ("WA", "Washington", "Far West", 8),
    ("WV", "West Virginia", "Southeast", 2),
    ("WI", "Wisconsin", "Great Lakes", 6),
    ("WY", "Wyoming", "Rocky Mountain", 1),
    ("PR", "Puerto Rico", "External", 3),
    ("VI", "Virgin Islands (US Territory)", "External", 1),
]

CUSTOMER_CATEGORIES: tuple[str, ...] = (
    "Agent",
    "Wholesaler",
    "Novelty Shop",
    "Supermarket",
    "Computer Store",
    "Gift Store",
    "Corporate",
)

BUYING_GROUPS: tuple[str, ...] = ("Tailspin Toys", "Wingtip Toys")

STOCK_GROUPS: tuple[str, ...] = (
    "Novelty Items",
    "Clothing",
    "Mugs",
    "T-Shirts",
    "Airline Novelties",
    "Computing Novelties",
    "USB Novelties",
    "Footwear",
    "Toys",
    "Packaging Materials",
)

# Item name stems per stock group (same order as STOCK_GROUPS).
ITEM_STEMS: tuple[tuple[str, ...], ...] = (
    ("novelty chocolates", "joke pen", "whoopee cushion", "rubber chicken"),
    ("hoodie", "jacket", "baseball cap", "scarf"),
    ("developer joke mug", "coffee mug", "travel mug", "espresso cup"),
    ("t-shirt", "long-sleeve shirt", "polo shirt", "tank top"),
    ("airline seat belt buckle", "the gu red shirt", "flight safety card", "air traveller pillow"),
    ("desktop gadget", "keyboard cleaner", "mouse pad", "cable tidy"),
    ("USB missile launcher", "USB food flash drive", "USB rocket", "USB hub"),
    ("slippers", "dinosaur shoes", "sneakers", "flip flops"),
    ("remote control car", "plush toy", "puzzle", "ride-on toy"),
    ("shipping carton", "bubble wrap", "packing tape", "void fill"),
)

SUPPLIERS: tuple[str, ...] = (
    "A Datum Corporation",
    "Contoso, Ltd.",
    "Consolidated Messenger",
    "Fabrikam, Inc.",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Litware, Inc.",
    "Lucerne Publishing",
    "Nod Publishers",
    "Northwind Electric Cars",
    "Trey Research",
    "The Phone Company",
    "Woodgrove Bank",
)

COLORS: tuple[str, ...] = (
    "Black", "Blue", "Gray", "Light Brown", "Red", "Steel Gray", "White", "Yellow", "Green", "Pink",
)  # fmt: skip

PACKAGE_TYPES: tuple[str, ...] = (
    "Bag", "Block", "Bottle", "Box", "Can", "Carton", "Case", "Dozen", "Each", "Envelope", "Kit",
    "Packet", "Pair", "Pallet", "Satchel",
)  # fmt: skip

FIRST_NAMES: tuple[str, ...] = (
    "Aakriti", "Abel", "Adriana", "Agnes", "Ahmed", "Aleksandra", "Amy", "Anand", "Anna", "Archer",
    "Bahadir", "Bea", "Bimla", "Camille", "Chen", "Dalia", "Daniel", "Deepak", "Elin", "Emma",
    "Farah", "Felipe", "Gunnar", "Hanna", "Hiroshi", "Ingrid", "Ivan", "Jack", "Jaroslav", "Kalyani",
    "Kayla", "Lily", "Luca", "Mai", "Malak", "Marcos", "Mira", "Nadia", "Naveen", "Olga",
    "Omar", "Paula", "Piotr", "Quinn", "Raj", "Rosa", "Sara", "Sophia", "Taj", "Tomas",
    "Uma", "Valentina", "Wei", "Xavier", "Yuki", "Zara",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Byrraju", "Abbasi", "Andersen", "Bianchi", "Chaudhary", "Dvorak", "Eriksson", "Fernandez",
    "Garcia", "Hakimi", "Ito", "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Novak",
    "Okafor", "Petrov", "Quiroga", "Rossi", "Sato", "Silva", "Tanaka", "Urban", "Varga", "Wagner",
    "Xu", "Yilmaz", "Zimmermann",
)  # fmt: skip

CITY_SYLLABLES: tuple[str, ...] = (
    "ash", "bel", "bro", "cal", "cedar", "dale", "el", "fair", "field", "glen", "green", "ham",
    "hill", "lake", "land", "mill", "mont", "new", "oak", "port", "ridge", "river", "rock",
    "spring", "stone", "ton", "vale", "view", "water", "wood",
)  # fmt: skip

# Seasonal multiplier per month (Jan..Dec): within −10 % .. +30 % like WWI's order volume.
MONTH_SEASONALITY: tuple[float, ...] = (
    0.95,
    0.90,
    1.00,
    1.00,
    1.05,
    1.05,
    1.00,
    0.98,
    1.05,
    1.10,
    1.20,
    1.30,
)

LOREM_WORDS: tuple[str, ...] = (
    "please", "deliver", "before", "noon", "fragile", "handle", "with", "care", "leave", "at",
    "loading", "dock", "call", "on", "arrival", "customer", "requested", "gift", "wrapping", "invoice",
    "separately", "pallet", "rear", "entrance", "signature", "required", "backorder", "remaining",
    "items", "partial", "shipment", "accepted", "store", "manager", "contact", "phone", "ahead",
    "weekday", "morning", "only", "no", "substitutions", "promotional", "display", "stock",
    "seasonal", "holiday", "rush", "order", "confirmed", "by", "email", "warehouse", "bin", "aisle",
)  # fmt: skip

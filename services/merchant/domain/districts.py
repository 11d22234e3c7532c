"""Khon Kaen province's 26 districts (amphoe), the only ones a shop may be enrolled in, and
the small set of shop categories."""

from __future__ import annotations

from enum import StrEnum

DISTRICTS: tuple[str, ...] = (
    "Mueang Khon Kaen",
    "Ban Fang",
    "Phra Yuen",
    "Nong Ruea",
    "Chum Phae",
    "Si Chomphu",
    "Nam Phong",
    "Ubolratana",
    "Kranuan",
    "Ban Phai",
    "Pueai Noi",
    "Phon",
    "Waeng Yai",
    "Waeng Noi",
    "Nong Song Hong",
    "Phu Wiang",
    "Mancha Khiri",
    "Chonnabot",
    "Khao Suan Kwang",
    "Phu Pha Man",
    "Sam Sung",
    "Khok Pho Chai",
    "Nong Na Kham",
    "Ban Haet",
    "Non Sila",
    "Wiang Kao",
)


class Category(StrEnum):
    FOOD_AND_DRINK = "food_and_drink"
    GROCERY = "grocery"
    MARKET_STALL = "market_stall"
    RETAIL = "retail"
    SERVICES = "services"
    HEALTH_AND_BEAUTY = "health_and_beauty"
    CRAFTS = "crafts"
    OTHER = "other"


class SizeClass(StrEnum):
    """Whether a shop is small: the fairness measures compare small shops with the rest."""

    SMALL = "small"
    LARGE = "large"


#: A rectangle around Khon Kaen province: a location outside it is a typo.
LATITUDE_RANGE = (15.6, 17.1)
LONGITUDE_RANGE = (101.7, 103.3)

"""Generate a registry of simulated mines spread over Guizhou like its green-mine quotas.

``minewatch fleet generate --mines N --seed S`` writes one. Mines are allotted to regions in
proportion to the regions' 2020 green-mine quotas (largest-remainder rounding, so the counts
add up to N exactly), then to counties of the region at random. 贵安新区 (GUIAN) has no county
codes, so its mines carry no county.

The mineral mix, mine scales, receiving waters, build dates and station layout are
illustrative choices of the simulator, not statistics. Limit sets follow
:func:`processors.limits.suggested_limit_sets`: coal mines get GB 20426-2006, whose values are
unknown in ``data/limits/limits.yaml`` and therefore not enforced; the simulator does not
pretend otherwise.

>>> fleet = generate_fleet(800, seed=1)
>>> from collections import Counter
>>> by_region = Counter(m.region_code for m in fleet)
>>> by_region["520500"], by_region["GUIAN"]          # quotas 185 and 5 of 800
(185, 5)
>>> generate_fleet(20, seed=7).to_dict() == generate_fleet(20, seed=7).to_dict()
True
"""

from __future__ import annotations

import hashlib
import random
from datetime import date

from minewatch.regions import load_divisions
from minewatch.registry import Hj212Link, Mine, Registry, Sensor, Station
from processors.limits import suggested_limit_sets

MINERALS: tuple[tuple[str, float], ...] = (
    ("coal", 0.45),
    ("limestone", 0.15),
    ("phosphate", 0.10),
    ("bauxite", 0.06),
    ("barite", 0.05),
    ("manganese", 0.05),
    ("gold", 0.04),
    ("lead_zinc", 0.04),
    ("antimony", 0.03),
    ("fluorite", 0.03),
)
SCALES: tuple[tuple[str, float], ...] = (("large", 0.10), ("medium", 0.25), ("small", 0.65))

WASTEWATER_SENSORS = (
    Sensor("w00000", "L/s", (0.0, 500.0)),
    Sensor("w01001", "dimensionless", (0.0, 14.0)),
    Sensor("w01018", "mg/L", (0.0, 1000.0)),
    Sensor("w21003", "mg/L", (0.0, 100.0)),
    Sensor("w21011", "mg/L", (0.0, 20.0)),
    Sensor("w01012", "mg/L", (0.0, 2000.0)),
    Sensor("w20120", "µg/L", (0.0, 5000.0)),
    Sensor("w20115", "µg/L", (0.0, 1000.0)),
    Sensor("w20119", "µg/L", (0.0, 2000.0)),
    Sensor("w20123", "mg/L", (0.0, 20.0)),
)
EMISSION_SENSORS = (
    Sensor("a34013", "mg/m3", (0.0, 500.0)),
    Sensor("a21026", "mg/m3", (0.0, 3000.0)),
    Sensor("a21002", "mg/m3", (0.0, 2000.0)),
    Sensor("a19001", "%", (0.0, 25.0)),
    Sensor("a00000", "m3/s", (0.0, 200.0)),
    Sensor("a01011", "m/s", (0.0, 40.0)),
    Sensor("a01012", "°C", (-20.0, 300.0)),
    Sensor("a01013", "kPa", (-10.0, 10.0)),
    Sensor("a01014", "%", (0.0, 100.0)),
    Sensor("a21005", "mg/m3", (0.0, 1000.0)),
)
GNSS_SENSORS = (Sensor("gnss_e", "mm"), Sensor("gnss_n", "mm"), Sensor("gnss_u", "mm"))
CRACK_SENSORS = (Sensor("crack", "mm", (0.0, 500.0)),)
CREEP_MM_PER_DAY = 0.5  # the simulated slopes' constant-stage rate: v_const of their points
RAIN_SENSORS = (Sensor("rain", "mm", (0.0, 200.0)), Sensor("rain_rate", "mm/h", (0.0, 300.0)))


def _apportion(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Split ``total`` in proportion to ``weights`` with the largest-remainder method."""
    whole = sum(weights.values())
    exact = {k: total * w / whole for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    leftover = total - sum(counts.values())
    for k in sorted(exact, key=lambda k: (exact[k] - counts[k], k), reverse=True)[:leftover]:
        counts[k] += 1
    return counts


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([k for k, _ in table], weights=[w for _, w in table])[0]


def simulated_mn(mine_id: str, station_id: str) -> str:
    """A 24-hex-digit HJ 212 MN for a simulated station's data logger."""
    return hashlib.sha256(f"{mine_id}/{station_id}".encode()).hexdigest()[:24].upper()


def simulated_password(mn: str) -> str:
    """The 6-digit HJ 212 PW of a *simulated* data logger, derived from its MN so the simulator
    can speak for it. A real registry holds only the SHA-256 of each device's real password."""
    return str(int(hashlib.sha256(f"minewatch-simulated:{mn}".encode()).hexdigest(), 16) % 1_000_000).zfill(6)


def simulated_hj212(mine_id: str, station_id: str) -> Hj212Link:
    mn = simulated_mn(mine_id, station_id)
    return Hj212Link(mn, hashlib.sha256(simulated_password(mn).encode()).hexdigest())


def generate_fleet(mines: int, seed: int = 0, slope_points: int = 3) -> Registry:
    rng = random.Random(seed)
    divisions = load_divisions()
    quotas = {code: r.green_mine_quota_2020 for code, r in divisions.regions.items()}
    per_region = _apportion(mines, quotas)
    fleet: dict[str, Mine] = {}
    serial = 0
    for region_code in sorted(per_region):
        counties = [c.code for c in divisions.counties_of(region_code)]
        for _ in range(per_region[region_code]):
            serial += 1
            county = rng.choice(counties) if counties else None
            mine_id = f"GZ{county or region_code}-{serial:04d}"
            mineral = _pick(rng, MINERALS)
            azimuth = float(rng.randrange(0, 360, 5))  # the slope's sliding direction
            open_pit = mineral in ("limestone", "bauxite")
            reference = {"rate_reference": "pit_slope"} if open_pit else {}
            receiving_water = "III" if rng.random() < 0.8 else "IV"
            built = date(rng.randint(1999, 2024), rng.randint(1, 12), 1)
            water, scope = suggested_limit_sets(mineral, "wastewater", receiving_water=receiving_water, built=built)
            stack, _ = suggested_limit_sets(mineral, "emission", built=built)
            stations = [
                Station(
                    "WW01",
                    "wastewater",
                    "总排口 main outlet",
                    WASTEWATER_SENSORS,
                    water,
                    scope,
                    interval_s=60.0,
                    receiving_water=receiving_water,
                    built=built.isoformat(),
                    hj212=simulated_hj212(mine_id, "WW01"),
                ),
                Station(
                    "ST01",
                    "emission",
                    "排气筒 stack",
                    EMISSION_SENSORS,
                    stack,
                    scope,
                    interval_s=60.0,
                    built=built.isoformat(),
                    hj212=simulated_hj212(mine_id, "ST01"),
                ),
                *(
                    Station(
                        f"SL01-P{p:02d}",
                        "slope",
                        f"边坡 GNSS point {p}",
                        GNSS_SENSORS,
                        slope_id="SL01",
                        interval_s=60.0,
                        slope_config={
                            "item": "gnss",
                            "azimuth_deg": azimuth,
                            "plunge_deg": 25.0,
                            "v_const_mm_per_day": CREEP_MM_PER_DAY,
                            **reference,
                        },
                    )
                    for p in range(1, slope_points + 1)
                ),
                Station(
                    "SL01-C01",
                    "slope",
                    "边坡 crack meter",
                    CRACK_SENSORS,
                    slope_id="SL01",
                    interval_s=60.0,
                    slope_config={"item": "crack", "v_const_mm_per_day": CREEP_MM_PER_DAY, **reference},
                ),
                Station("RG01", "rain", "雨量计 rain gauge", RAIN_SENSORS, interval_s=60.0),
            ]
            region = divisions.regions[region_code]
            fleet[mine_id] = Mine(
                id=mine_id,
                name=f"{region.name}模拟{mineral}矿{serial}号 (simulated)",
                region_code=region_code,
                county_code=county,
                mineral=mineral,
                scale=_pick(rng, SCALES),
                mining_method="open_pit" if open_pit else "underground",
                stations={s.id: s for s in stations},
            )
    return Registry(fleet)

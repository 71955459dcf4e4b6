"""Protocol versions, explicitly: what differs between HJ/T 212-2005 and HJ 212-2017.

Framing and CRC did not change between the versions; what did is the Flag's version bits, the
pollutant codes (2005's ``011`` is 2017's ``w01018``) and the data flags. A :class:`Profile`
holds what a version means; :func:`profile_for` picks it from the packet's Flag.

HJ 212-2025 replaced HJ 212-2017 on 2026-01-01, but its text was not available when this was
written. Supporting it is an addition: a third :class:`Profile` in :data:`PROFILES` (its
version bits, codes and flags), and the framing or header rules it changes, if any, as options
of those modules; nothing that exists needs rewriting.

Codes: the 2005 → 2017 table is ``data/hj212/codes-2005.yaml`` (HJ 212-2017 Appendix B, column
原编码). A 2017 packet may still carry 2005 codes (mixed packets exist), so both profiles map
them: a 2005 code has 2 or 3 characters, a 2017 code a letter and five digits, so they cannot
collide. A code in neither table is kept as sent.

Flags: the pipeline speaks HJ 212-2017 Table 8 (N F M S D C T B; only N is valid data). 2005's
P (power failure) becomes D; an air station's 0/1/2/3 become C/N/D/N. A flag nobody defined
(provincial extensions) becomes D, i.e. not valid, and is counted, never silently trusted.

>>> from hj212.packet import parse
>>> p = parse(b"ST=32;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20240101080000;011-Rtd=30.5,011-Flag=N&&")
>>> profile = profile_for(p)
>>> profile.version, profile.parameter("011"), profile.parameter("w01018"), profile.parameter("O3")
('2005', 'w01018', 'w01018', 'O3')
>>> profile.data_flag("P"), PROFILES["2017"].data_flag("St")
(('D', True), ('D', False))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import yaml

from hj212.packet import Packet
from minewatch.paths import DATA

FLAGS_2017 = ("N", "F", "M", "S", "D", "C", "T", "B")


@cache
def legacy_codes() -> dict[str, str]:
    doc = yaml.safe_load((DATA / "hj212" / "codes-2005.yaml").read_text(encoding="utf-8"))
    return {str(k): str(v) for table in ("water", "gas") for k, v in doc[table].items()}


@dataclass(frozen=True)
class Profile:
    version: str
    name: str
    flag_bits: int | None  # Flag bits V5..V0; None: no Flag field in the version's uploads
    flags: Mapping[str, str] = field(default_factory=dict)  # the version's data flag -> 2017 Table 8

    def parameter(self, code: str) -> str:
        """minewatch's (HJ 212-2017) code for ``code``; unknown codes are kept as sent."""
        return legacy_codes().get(code, code)

    def data_flag(self, raw: str) -> tuple[str, bool]:
        """The 2017 flag for ``raw``, and whether ``raw`` is a flag this version defines."""
        known = self.flags.get(raw.strip())
        return (known, True) if known is not None else ("D", False)


V2017 = Profile("2017", "HJ 212-2017", 1, {f: f for f in FLAGS_2017})
V2005 = Profile(
    "2005",
    "HJ/T 212-2005",
    None,
    {
        "N": "N",
        "F": "F",
        "M": "M",
        "S": "S",
        "D": "D",
        "C": "C",
        "T": "T",
        "P": "D",
        "0": "C",
        "1": "N",
        "2": "D",
        "3": "N",
    },
)
PROFILES: dict[str, Profile] = {p.version: p for p in (V2005, V2017)}


def profile_for(packet: Packet) -> Profile:
    """The profile of the packet's version; an unknown version is read as 2017 (the gateway warns)."""
    return PROFILES.get(packet.version, V2017)

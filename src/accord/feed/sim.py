"""A simulator of missile launches and ballistic tracks (pure: times are arguments, randomness is seeded).

Physics, in a local east-north-up frame over a spherical Earth (good to a few percent over the
ranges of DPRK launches, 200-1,500 km):

- **boost**: constant thrust acceleration along a pitch that turns over from vertical to the burnout
  flight-path angle, against gravity;
- **midcourse**: free flight under gravity only;
- **re-entry**: below 80 km an exponential atmosphere adds drag (ballistic coefficient ``beta``);
- **impact prediction** from each track point: the vacuum ballistic solution of the current position and
  velocity (what a tracker without the threat's parameters can compute), i.e. the impact point and
  time a warning centre would publish; it converges to the true impact as the flight goes on.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass

from accord.feed.model import Kind, WarningMessage

G = 9.80665
R_EARTH = 6_371_000.0
US = 1_000_000


@dataclass(frozen=True)
class Profile:
    """A launch: where, which way, how hard."""

    lat: float = 39.03  # near Pyongyang
    lon: float = 125.75
    azimuth_deg: float = 90.0  # towards the Sea of Japan
    burn_s: float = 60.0
    accel: float = 40.0  # m/s^2 thrust acceleration
    burnout_gamma_deg: float = 40.0  # flight-path angle at burnout
    beta: float = 8_000.0  # ballistic coefficient kg/m^2


def _to_latlon(p: Profile, east: float, north: float) -> tuple[float, float]:
    lat = p.lat + math.degrees(north / R_EARTH)
    lon = p.lon + math.degrees(east / (R_EARTH * math.cos(math.radians(p.lat))))
    return max(-90.0, min(90.0, lat)), (lon + 180.0) % 360.0 - 180.0


def predict_impact(h: float, vh_e: float, vh_n: float, vu: float) -> tuple[float, float, float]:
    """Vacuum ballistic prediction from altitude ``h`` and velocity: (time to impact s, east m, north m)."""
    h = max(h, 0.0)
    t = (vu + math.sqrt(vu * vu + 2 * G * h)) / G
    return t, vh_e * t, vh_n * t


def flight(
    p: Profile,
    launch_us: int,
    *,
    event: str,
    interval_s: float = 1.0,
    impact_every: int = 5,
    detect_delay_s: float = 5.0,
    dt: float = 0.05,
) -> Iterator[WarningMessage]:
    """The warning messages of one flight, in time order, stamped ``issued_us`` at their emission time.

    A launch estimate after ``detect_delay_s``, a track point every ``interval_s``, an impact
    prediction every ``impact_every`` track points, and a last prediction just before impact.
    """
    az = math.radians(p.azimuth_deg)
    ue, un = math.sin(az), math.cos(az)
    x = z = 0.0  # downrange, altitude
    vx = vz = 0.0
    t = 0.0
    next_emit = detect_delay_s
    emitted_launch = False
    n = 0
    gamma_bo = math.radians(p.burnout_gamma_deg)
    while True:
        # -- dynamics
        if t < p.burn_s:
            frac = t / p.burn_s
            pitch = math.pi / 2 - (math.pi / 2 - gamma_bo) * min(1.0, frac * 1.2)
            ax, az_ = p.accel * math.cos(pitch), p.accel * math.sin(pitch) - G
        else:
            ax, az_ = 0.0, -G
            if z < 80_000.0:
                rho = 1.225 * math.exp(-z / 7_200.0)
                v = math.hypot(vx, vz)
                drag = rho * v * v / (2 * p.beta)
                if v > 0:
                    ax -= drag * vx / v
                    az_ -= drag * vz / v
        vx += ax * dt
        vz += az_ * dt
        x += vx * dt
        z += vz * dt
        t += dt
        if z <= 0.0 and t > 1.0:
            break
        if t + 1e-9 < next_emit:
            continue
        now_us = launch_us + round(t * US)
        lat, lon = _to_latlon(p, x * ue, x * un)
        if not emitted_launch:
            emitted_launch = True
            yield WarningMessage(event, Kind.LAUNCH, launch_us, p.lat, p.lon, issued_us=now_us)
        yield WarningMessage(event, Kind.TRACK, now_us, lat, lon, z, (vx * ue, vx * un, vz), issued_us=now_us)
        n += 1
        tti, de, dn = predict_impact(z, vx * ue, vx * un, vz)
        if n % impact_every == 0 or tti < interval_s:
            ilat, ilon = _to_latlon(p, x * ue + de, x * un + dn)
            yield WarningMessage(event, Kind.IMPACT, now_us + round(tti * US), ilat, ilon, issued_us=now_us)
        next_emit += interval_s


def schedule(
    rate: float, duration_s: float, start_us: int, *, seed: int = 1, prefix: str = "SIM", interval_s: float = 0.1
) -> list[WarningMessage]:
    """About ``rate`` messages/s for ``duration_s``: as many concurrent flights as the rate needs,
    their messages merged in issue order (for load tests and the benchmark)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible simulation, not a secret
    per_flight = 1.2 / interval_s  # track points plus launch and impact messages
    flights = max(1, math.ceil(rate / per_flight))
    out: list[WarningMessage] = []
    for i in range(flights):
        p = Profile(
            azimuth_deg=rng.uniform(60, 110),
            burn_s=rng.uniform(40, 80),
            accel=rng.uniform(25, 35),
            burnout_gamma_deg=rng.uniform(30, 50),
        )
        launch = start_us + round(rng.uniform(0, interval_s) * US)
        for m in flight(p, launch, event=f"{prefix}-{i}", interval_s=interval_s, detect_delay_s=interval_s):
            if m.issued_us - start_us > duration_s * US:
                break
            out.append(m)
    out.sort(key=lambda m: m.issued_us)
    return out

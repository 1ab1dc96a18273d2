//! The daily traffic of a service (spec §3): a night trough, a morning ramp, a
//! plateau with a lunch bump, an evening decline, lower weekends, all in the
//! users' time zone.

use crate::rng::Rng;

const HOUR: f64 = 3600.0;
const DAY: f64 = 86400.0;

#[derive(Debug, Clone)]
pub struct Traffic {
    /// Offset of the users' time zone from UTC, seconds.
    pub tz: f64,
    /// Night load as a fraction of the peak.
    pub night: f64,
    ramp_start: f64,
    ramp_len: f64,
    fall_start: f64,
    fall_len: f64,
    lunch: f64,
    weekend: f64,
    /// Requests per second at the peak.
    pub peak_rps: f64,
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl Traffic {
    pub fn draw(rng: &mut Rng) -> Self {
        Traffic {
            tz: (rng.below(18) as f64 - 8.0) * HOUR,
            night: rng.range(0.1, 0.4),
            ramp_start: rng.range(5.5, 7.5),
            ramp_len: rng.range(3.0, 5.0),
            fall_start: rng.range(17.0, 20.0),
            fall_len: rng.range(3.0, 6.0),
            lunch: rng.range(0.0, 0.1),
            weekend: rng.range(0.6, 0.9),
            peak_rps: rng.log_range(5.0, 5000.0),
        }
    }

    /// Local hour of day in [0, 24).
    pub fn local_hour(&self, t: f64) -> f64 {
        (t + self.tz).rem_euclid(DAY) / HOUR
    }

    fn day_profile(&self, h: f64) -> f64 {
        let at = |h: f64| {
            let up = smoothstep((h - self.ramp_start) / self.ramp_len);
            let down = 1.0 - smoothstep((h - self.fall_start) / self.fall_len);
            let lunch = 1.0 + self.lunch * (-((h - 12.5) / 1.2).powi(2)).exp();
            up * down * lunch
        };
        // The evening decline may run past midnight.
        at(h).max(at(h + 24.0))
    }

    fn is_weekend(&self, t: f64) -> bool {
        // 1970-01-01 was a Thursday: day 0 → 4 (0 = Sunday).
        let dow = (((t + self.tz) / DAY).floor() as i64 + 4).rem_euclid(7);
        dow == 0 || dow == 6
    }

    /// The daytime part of the load in [0, ~1.1]: 0 at night, ≈ 1 at a weekday peak.
    pub fn day(&self, t: f64) -> f64 {
        let w = if self.is_weekend(t) {
            self.weekend
        } else {
            1.0
        };
        self.day_profile(self.local_hour(t)) * w
    }

    /// Load as a fraction of the peak: the night floor plus the daytime part.
    pub fn norm(&self, t: f64) -> f64 {
        self.night + (1.0 - self.night) * self.day(t)
    }

    /// The mean of `f(day(t))` over the week starting at `t0`.
    pub fn weekly_mean(&self, t0: f64, f: impl Fn(f64) -> f64) -> f64 {
        let n = 7 * 24 * 12;
        (0..n)
            .map(|i| f(self.day(t0 + i as f64 * 300.0)))
            .sum::<f64>()
            / n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn night_is_low_and_afternoon_high() {
        let mut rng = Rng::new(3);
        for _ in 0..50 {
            let tr = Traffic::draw(&mut rng);
            // A Wednesday (2025-01-01 was a Wednesday), in local time.
            let wed = 1_735_689_600.0 - tr.tz;
            assert!(tr.day(wed + 3.0 * HOUR) < 0.05, "03:00");
            assert!(tr.day(wed + 14.0 * HOUR) > 0.9, "14:00");
            assert!(tr.norm(wed + 3.0 * HOUR) < 0.45);
            // Saturday 14:00 is lower than Wednesday 14:00.
            assert!(tr.day(wed + 3.0 * DAY + 14.0 * HOUR) < tr.day(wed + 14.0 * HOUR));
        }
    }
}

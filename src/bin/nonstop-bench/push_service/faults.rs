//! The faults the push service answers with on demand, each with its share of requests:
//! `429=10%,reset=1%,503=2%,500=1%,slow=1%`.

use std::fmt;

/// One fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// An answer with this status (429 carries `Retry-After`, as the real services send it).
    Status(u16),
    /// The request's stream is reset (HTTP/2 `RST_STREAM`; the connection is closed on
    /// HTTP/1.1) before any answer: the push was not taken.
    Reset,
    /// The answer comes after a further delay (`--slow-ms`): a service that queues.
    Slow,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Status(status) => write!(f, "{status}"),
            Self::Reset => f.write_str("reset"),
            Self::Slow => f.write_str("slow"),
        }
    }
}

/// Faults with their shares (0.0–1.0), drawn in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults(pub Vec<(Fault, f64)>);

impl std::str::FromStr for Faults {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut faults = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) =
                part.split_once('=').ok_or_else(|| format!("'{part}': a fault is name=share, e.g. 429=10%"))?;
            let fault = match name {
                "reset" => Fault::Reset,
                "slow" => Fault::Slow,
                status => match status.parse::<u16>() {
                    Ok(code) if (400..600).contains(&code) => Fault::Status(code),
                    _ => return Err(format!("'{name}': a fault is a 4xx/5xx status, reset or slow")),
                },
            };
            let percent = share.trim_end_matches('%').parse::<f64>().map_err(|_| format!("'{share}': not a share"))?;
            if !(0.0..=100.0).contains(&percent) {
                return Err(format!("'{share}': a share is 0–100%"));
            }
            faults.push((fault, percent / 100.0));
        }
        if faults.iter().map(|(_, share)| share).sum::<f64>() > 1.0 + 1e-9 {
            return Err("the shares add up to more than 100%".into());
        }
        Ok(Self(faults))
    }
}

impl Faults {
    /// The fault for a request whose uniform draw in [0, 1) is `u`, if any.
    pub fn pick(&self, u: f64) -> Option<Fault> {
        let mut below = 0.0;
        for (fault, share) in &self.0 {
            below += share;
            if u < below {
                return Some(*fault);
            }
        }
        None
    }

    /// A random request's fault.
    pub fn draw(&self) -> Option<Fault> {
        if self.0.is_empty() {
            return None;
        }
        self.pick(rand::random::<f64>())
    }
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let parts: Vec<String> = self.0.iter().map(|(fault, share)| format!("{fault}={}%", share * 100.0)).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_names_each_fault_and_its_share() {
        let faults: Faults = "429=10%,reset=1%,503=2.5".parse().expect("parses");
        assert_eq!(faults.0, vec![(Fault::Status(429), 0.10), (Fault::Reset, 0.01), (Fault::Status(503), 0.025)]);
        // Draws fall in the shares' order: [0, 0.10) is 429, [0.10, 0.11) a reset, …
        assert_eq!(faults.pick(0.05), Some(Fault::Status(429)));
        assert_eq!(faults.pick(0.105), Some(Fault::Reset));
        assert_eq!(faults.pick(0.12), Some(Fault::Status(503)));
        assert_eq!(faults.pick(0.2), None);
        assert!("200=1%".parse::<Faults>().is_err(), "a success is no fault");
        assert!("429=60%,500=50%".parse::<Faults>().is_err(), "more than all requests");
    }
}

//! A site's Modbus instruments grouped by physical line: every instrument with the same
//! `connect` address (a gateway) or the same `serial` port shares one scheduler.

use super::device::DeviceSpec;
use super::line::LineEndpoint;
use labwire_event::SiteId;
use labwire_router::config::{InstrumentConfig, ProtocolSettings, Transport};

/// One physical line and the instruments on it.
#[derive(Debug, Clone)]
pub struct LinePlan {
    /// The line.
    pub endpoint: LineEndpoint,
    /// The devices on it, in config order.
    pub devices: Vec<DeviceSpec>,
}

/// Groups the enabled Modbus instruments of a site by line. Serial settings of the first
/// instrument on a port apply to the port (the config check refuses none of them; they must
/// match in practice, as the units share the wire).
pub fn plan_lines<'a>(
    site: &SiteId,
    instruments: impl IntoIterator<Item = &'a InstrumentConfig>,
) -> Vec<LinePlan> {
    let mut lines: Vec<LinePlan> = Vec::new();
    for i in instruments {
        let ProtocolSettings::Modbus(m) = &i.settings else {
            continue;
        };
        if !i.enabled {
            continue;
        }
        let endpoint = match &i.transport {
            Transport::Connect { host, port } => LineEndpoint::Tcp {
                host: host.clone(),
                port: *port,
            },
            Transport::Serial(s) => LineEndpoint::Rtu(crate::site::serial_settings(s)),
            Transport::Listen(_) => continue,
        };
        let spec = DeviceSpec {
            site: site.clone(),
            instrument: i.id.clone(),
            unit: m.unit,
            profile: std::sync::Arc::clone(&m.profile.profile),
            poll: m.poll,
            timeout: m.timeout,
            keepalive: m.keepalive,
            backoff_max: m.backoff_max,
        };
        let same = |e: &LineEndpoint| match (e, &endpoint) {
            (LineEndpoint::Rtu(a), LineEndpoint::Rtu(b)) => a.path == b.path,
            (a, b) => a == b,
        };
        match lines.iter_mut().find(|l| same(&l.endpoint)) {
            Some(l) => l.devices.push(spec),
            None => lines.push(LinePlan {
                endpoint,
                devices: vec![spec],
            }),
        }
    }
    lines
}

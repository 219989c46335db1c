//! The readiness rule of `/readyz` (docs/router.md): ready while the bus is ready, or while the
//! spool still has room to take events durably.

use labwire_router::Router;
use labwire_router::health::Readiness;

/// The readiness of a running router, evaluated on each `/readyz` request.
pub fn rule(router: &Router) -> impl Fn() -> Readiness + Send + Sync + 'static {
    let bus = router.bus().clone();
    let spool = std::sync::Arc::clone(router.spool());
    move || {
        let o = spool.options();
        let stats = bus.stats().snapshot();
        let room = spool.depth() < o.max_rows && stats.spool_bytes < o.max_bytes;
        Readiness::from_parts(bus.is_ready(), room)
    }
}

//! The egress proxy under load: 200 tunnels open at once and a few bulk transfers all work and are all recorded, and once the proxy stops, the process holds no more file descriptors than before it started.
//!
//! Alone in its test binary, so that no other test opens or closes descriptors meanwhile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support_proxy;

use std::sync::{Arc, Barrier};
use std::thread;

use qwarden_egress::Via;
use support_proxy::*;

const TUNNELS: usize = 200;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn two_hundred_tunnels_at_once_and_no_descriptor_leaks() {
    let echo = Echo::start();
    // A first proxy started and stopped: whatever the runtime sets up once per process (the
    // signal driver's pipe when tokio's `signal` feature is on, for one) is not a leak.
    Harness::start(&Grant::default()).stop();
    let before = open_fds();
    let mut h = Harness::start(
        &Grant::default()
            .allow("*.lab.test")
            .range("127.0.0.1/32")
            .host("api.lab.test", echo.addr),
    );
    let all_open = Arc::new(Barrier::new(TUNNELS));
    let clients: Vec<_> = (0..TUNNELS)
        .map(|i| {
            let (addr, all_open) = (h.addr, all_open.clone());
            thread::spawn(move || {
                let mut s = open_tunnel(addr, &format!("api.lab.test:{}", 1000 + i));
                // Every tunnel is open before any carries data.
                all_open.wait();
                let data = opaque_bytes(100 + i);
                round_trip(&mut s, &data);
                round_trip(&mut s, &data);
                assert!(finish(&mut s).is_empty());
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let mut received: Vec<u64> = (0..TUNNELS).map(|_| echo.ended()).collect();
    received.sort_unstable();
    let sent: Vec<u64> = (0..TUNNELS).map(|i| 2 * (100 + i) as u64).collect();
    assert_eq!(received, sent);

    let mut decisions = h.recorder.wait_for(TUNNELS);
    assert_eq!(decisions.len(), TUNNELS);
    decisions.sort_by_key(|d| d.port);
    for (i, d) in decisions.iter().enumerate() {
        let n = 2 * (100 + i) as u64;
        assert_eq!(
            *d,
            expected(d, |e| {
                e.host = "api.lab.test".into();
                e.port = u16::try_from(1000 + i).unwrap();
                e.address = Some(LOOPBACK);
                e.via = Via::HttpConnect;
                e.allowed = true;
                e.rule = "allow *.lab.test".into();
                e.bytes_up = n;
                e.bytes_down = n;
            })
        );
    }

    // Bulk transfers too, both ways at once (the relay may use other means for those).
    let bulk: Vec<_> = (0..4)
        .map(|i| {
            let addr = h.addr;
            thread::spawn(move || {
                let mut s = open_tunnel(addr, &format!("api.lab.test:{}", 2000 + i));
                bulk_round_trip(&mut s, 8 << 20);
            })
        })
        .collect();
    for b in bulk {
        b.join().unwrap();
    }
    for _ in 0..4 {
        assert_eq!(echo.ended(), 8 << 20);
    }
    let decisions = h.recorder.wait_for(TUNNELS + 4);
    for d in &decisions[TUNNELS..] {
        assert!(d.allowed && d.error.is_none(), "{d:?}");
        assert_eq!((d.bytes_up, d.bytes_down), (8 << 20, 8 << 20));
    }

    assert_eq!(h.stop().len(), TUNNELS + 4);
    drop(h);
    assert_eq!(open_fds(), before, "file descriptors leaked");
}
